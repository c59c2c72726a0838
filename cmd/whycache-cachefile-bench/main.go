// Command whycache-cachefile-bench reads the output of the cache file's Go
// benchmarks (go test -bench ./pkg/cachefile/) on standard input and prints
// a table that compares whycache with a Go map and bbolt, with the ratios
// and the project's targets. hack/bench.d/cachefile.sh runs it.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// results maps a benchmark name (without the -GOMAXPROCS suffix) and a
// unit to the values measured (one per -count run).
type results map[string]map[string][]float64

var lineRE = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

func parse(r io.Reader) (results, []string) {
	res := results{}
	var header []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if (strings.HasPrefix(line, "cpu:") || strings.HasPrefix(line, "goos:") || strings.HasPrefix(line, "goarch:")) &&
			!slices.Contains(header, strings.TrimSpace(line)) {
			header = append(header, strings.TrimSpace(line))
		}
		m := lineRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		f := strings.Fields(m[2])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			if res[m[1]] == nil {
				res[m[1]] = map[string][]float64{}
			}
			res[m[1]][f[i+1]] = append(res[m[1]][f[i+1]], v)
		}
	}
	return res, header
}

// get returns the median of a benchmark's values in unit, or NaN.
func (r results) get(name, unit string) float64 {
	vs := r[name][unit]
	if len(vs) == 0 {
		return nan
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	return s[len(s)/2]
}

var nan = func() float64 { var z float64; return z / z }()

func f(v float64, format string) string {
	if v != v {
		return "-"
	}
	return fmt.Sprintf(format, v)
}

func verdict(ok bool, v float64) string {
	switch {
	case v != v:
		return "not run"
	case ok:
		return "met"
	}
	return "MISSED"
}

func main() {
	res, header := parse(os.Stdin)
	fmt.Printf("\nwhycache cache file benchmarks (%s; medians of the runs)\n\n", strings.Join(header, ", "))
	fmt.Printf("Get, %s keys, random order               %12s %8s %8s %12s %8s %8s\n", f(res.get("BenchmarkFileSize", "keys"), "%.0f"),
		"1 goroutine", "cpu-ns", "allocs", "8 goroutines", "cpu-ns", "allocs")
	rows := []struct{ name, label string }{
		{"map", "Go map: lookup + copy into a buffer"},
		{"map-alloc", "Go map: lookup + allocated copy"},
		{"whycache-view", "whycache View: zero-copy + copy into a buffer"},
		{"whycache-view-unguarded", "  the same without the fault guard"},
		{"whycache-view-nocopy", "whycache View: zero-copy, reads one byte"},
		{"whycache-pin-view", "whycache Pin.View: zero-copy + copy, 1 pin/1024"},
		{"whycache-pin-view-unguarded", "  the same without the fault guard"},
		{"whycache-get", "whycache Get: allocated copy"},
		{"bbolt", "bbolt: read tx per Get + copy into a buffer"},
		{"bbolt-sharedtx", "bbolt: one read tx for all Gets + copy"},
	}
	ns := func(impl, g string) float64 { return res.get("BenchmarkGet/"+impl+"/"+g, "ns/op") }
	for _, r := range rows {
		g1, g8 := "BenchmarkGet/"+r.name+"/g1", "BenchmarkGet/"+r.name+"/g8"
		fmt.Printf("  %-50s %9s ns %8s %8s %9s ns %8s %8s\n", r.label,
			f(ns(r.name, "g1"), "%.1f"), f(res.get(g1, "cpu-ns/op"), "%.1f"), f(res.get(g1, "allocs/op"), "%.0f"),
			f(ns(r.name, "g8"), "%.1f"), f(res.get(g8, "cpu-ns/op"), "%.1f"), f(res.get(g8, "allocs/op"), "%.0f"))
	}
	fmt.Println("  (ns: wall time per lookup; cpu-ns: CPU time of the process per lookup, all cores)")
	fmt.Println()
	fmt.Printf("%-58s %10s %10s  %s\n", "Ratios", "1 gor.", "8 gor.", "target")
	ratio := func(label, a, b, target string, ok func(float64) bool) {
		r1, r8 := ns(a, "g1")/ns(b, "g1"), ns(a, "g8")/ns(b, "g8")
		fmt.Printf("  %-56s %10s %10s  %s: %s\n", label, f(r1, "%.2fx"), f(r8, "%.2fx"), target, verdict(ok(r1) && ok(r8), r1))
	}
	ratio("whycache View (copy) / map (copy)", "whycache-view", "map", "<= 1.5x", func(v float64) bool { return v <= 1.5 })
	ratio("whycache Pin.View (copy) / map (copy)", "whycache-pin-view", "map", "<= 1.5x", func(v float64) bool { return v <= 1.5 })
	cpuRatio := func(label, a, b string) {
		ga, gb := "BenchmarkGet/"+a+"/", "BenchmarkGet/"+b+"/"
		fmt.Printf("  %-56s %10s %10s  (CPU time)\n", label,
			f(res.get(ga+"g1", "cpu-ns/op")/res.get(gb+"g1", "cpu-ns/op"), "%.2fx"),
			f(res.get(ga+"g8", "cpu-ns/op")/res.get(gb+"g8", "cpu-ns/op"), "%.2fx"))
	}
	cpuRatio("whycache View (copy) / map (copy), CPU time", "whycache-view", "map")
	ratio("whycache View / View without the fault guard", "whycache-view", "whycache-view-unguarded", "(info)", func(float64) bool { return true })
	ratio("whycache Pin.View / Pin.View without the fault guard", "whycache-pin-view", "whycache-pin-view-unguarded", "(info)", func(float64) bool { return true })
	ratio("whycache Get / map (allocated copy)", "whycache-get", "map-alloc", "(info)", func(float64) bool { return true })
	ratio("bbolt (tx per Get) / whycache View", "bbolt", "whycache-view", ">= 5x", func(v float64) bool { return v >= 5 })
	cpuRatio("bbolt (tx per Get) / whycache View, CPU time", "bbolt", "whycache-view")
	r1 := ns("bbolt-sharedtx", "g1") / ns("whycache-view", "g1")
	fmt.Printf("  %-56s %10s %10s  %s\n", "bbolt (one tx) / whycache View", f(r1, "%.2fx"), "", "(info)")
	allocs := res.get("BenchmarkGet/whycache-view/g1", "allocs/op")
	fmt.Printf("  %-56s %10s %10s  0: %s\n", "allocations per zero-copy lookup", f(allocs, "%.0f"), "", verdict(allocs == 0, allocs))
	bare, view := res.get("BenchmarkRefCount/bare/g1", "ns/op"), res.get("BenchmarkRefCount/view/g1", "ns/op")
	bare8, view8 := res.get("BenchmarkRefCount/bare/g8", "ns/op"), res.get("BenchmarkRefCount/view/g8", "ns/op")
	fmt.Printf("  %-56s %7s ns %7s ns  (info)\n", "reference count + superseded check, cached lookup", f(view-bare, "%+.1f"), f(view8-bare8, "%+.1f"))

	fmt.Println("\nFault guard (SetPanicOnFault + recover) per lookup, guarded and unguarded interleaved, thread CPU time")
	for _, d := range []string{"cached", "fixture"} {
		for _, v := range []string{"view", "pin-view"} {
			n := "BenchmarkFaultGuard/" + d + "/" + v
			g, u := res.get(n, "guarded-cpu-ns/op"), res.get(n, "unguarded-cpu-ns/op")
			fmt.Printf("  %-8s %-9s %9s ns guarded %9s ns unguarded  %+7s ns  ratio %s\n", d, v,
				f(g, "%.1f"), f(u, "%.1f"), f(g-u, "%.1f"), f(res.get(n, "guard-ratio"), "%.2fx"))
		}
	}

	fmt.Println("\nWriter apply throughput (default options: durable generations)")
	for _, b := range []string{"batch=1", "batch=100", "batch=10000", "batch=10000/nosync"} {
		v := res.get("BenchmarkApply/"+b, "ops/s")
		c := 1e9 / res.get("BenchmarkApply/"+b, "cpu-ns/op")
		target := ""
		if b == "batch=10000" {
			target = "target >= 1M ops/s: " + verdict(v >= 1e6, v)
		}
		fmt.Printf("  %-22s %12s ops/s (wall) %12s ops per CPU second  %s\n", b, f(v, "%.0f"), f(c, "%.0f"), target)
	}

	fmt.Println("\nFile size after compaction, per byte of live keys, values and index")
	d, s, a := res.get("BenchmarkFileSize", "disk/live"), res.get("BenchmarkFileSize", "sealed/live"), res.get("BenchmarkFileSize", "apparent/live")
	fmt.Printf("  %-40s %8s  target <= 1.3: %s\n", "live generation, disk blocks", f(d, "%.3f"), verdict(d <= 1.3, d))
	fmt.Printf("  %-40s %8s  target <= 1.3: %s\n", "sealed copy (the snapshot)", f(s, "%.3f"), verdict(s <= 1.3, s))
	fmt.Printf("  %-40s %8s  (headroom is a hole)\n", "live generation, apparent size", f(a, "%.3f"))

	fmt.Println("\nReader processes (one goroutine each, zero-copy lookups)")
	p1, p2 := res.get("BenchmarkReaderProcesses/procs=1", "lookups/s"), res.get("BenchmarkReaderProcesses/procs=2", "lookups/s")
	fmt.Printf("  1 process  %12s lookups/s\n  2 processes %11s lookups/s   scaling %s  target >= 1.8x: %s\n",
		f(p1, "%.0f"), f(p2, "%.0f"), f(p2/p1, "%.2fx"), verdict(p2/p1 >= 1.8, p2/p1))
}

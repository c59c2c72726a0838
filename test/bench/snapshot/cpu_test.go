package snapshotbench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cpuTimes is CPU time (user + system) used so far by this process and by
// the S3 server; server is negative when the server is not a child of
// this process (hack/testservers started it), so its CPU is unknown.
type cpuTimes struct{ self, server time.Duration }

func (a cpuTimes) sub(b cpuTimes) cpuTimes {
	d := cpuTimes{self: a.self - b.self, server: -1}
	if a.server >= 0 && b.server >= 0 {
		d.server = a.server - b.server
	}
	return d
}

// cpuNow reads the CPU times; the server's from /proc (clock ticks).
func cpuNow() cpuTimes {
	var ru syscall.Rusage
	t := cpuTimes{server: -1}
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		t.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if pid := serverPID(); pid > 0 {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
			// Fields after the command's closing parenthesis: state is
			// field 3, utime 14, stime 15.
			s := string(b)
			f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
			ut, err1 := strconv.ParseInt(f[11], 10, 64)
			st, err2 := strconv.ParseInt(f[12], 10, 64)
			if err1 == nil && err2 == nil {
				t.server = time.Duration(ut+st) * (time.Second / 100) // USER_HZ
			}
		}
	}
	return t
}

// serverPID returns the pid of a versitygw child of this process, or 0.
func serverPID() int {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	me := os.Getpid()
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open || s[open+1:end] != "versitygw" {
			continue
		}
		f := strings.Fields(s[end+1:])
		if ppid, err := strconv.Atoi(f[1]); err == nil && ppid == me {
			pid, _ := strconv.Atoi(strings.Fields(s)[0])
			return pid
		}
	}
	return 0
}

// cpuPer runs f n times and returns the CPU it used per run, scaled to
// 100 MiB of an object of size bytes. The runs carry the profiler label
// phase=name (go tool pprof -tagfocus phase=name on -test.cpuprofile).
func cpuPer(b *testing.B, name string, n int, size int64, f func() error) cpuTimes {
	start := cpuNow()
	pprof.Do(b.Context(), pprof.Labels("phase", name), func(context.Context) {
		for range n {
			if err := f(); err != nil {
				b.Fatal(err)
			}
		}
	})
	d := cpuNow().sub(start)
	scale := func(t time.Duration) time.Duration {
		if t < 0 {
			return t
		}
		return time.Duration(float64(t) / float64(n) * float64(100<<20) / float64(size))
	}
	return cpuTimes{self: scale(d.self), server: scale(d.server)}
}

// String prints the CPU per 100 MiB in milliseconds.
func (a cpuTimes) String() string {
	srv := "?"
	if a.server >= 0 {
		srv = strconv.FormatInt(a.server.Milliseconds(), 10)
	}
	return fmt.Sprintf("client %d ms + server %s ms", a.self.Milliseconds(), srv)
}

// total is the CPU of both, or of the client alone when the server's is
// unknown.
func (a cpuTimes) total() time.Duration { return a.self + max(a.server, 0) }

// cpuReport records the CPU per 100 MiB of a raw GET, of our download
// alone and of a bootstrap (download and check), client and server, and
// what the bootstrap's ratio to the raw GET would be without the check's
// CPU: on a machine whose cores the server shares, CPU is the limit.
func cpuReport(b *testing.B, size int64, rawGet, download, bootstrap func() error) {
	raw := cpuPer(b, "raw-get", 3, size, rawGet)
	dl := cpuPer(b, "download", 3, size, download)
	boot := cpuPer(b, "bootstrap", 3, size, bootstrap)
	record("CPU per 100 MiB: raw parallel GET (download's part size)", raw.String())
	record("CPU per 100 MiB: our download alone", dl.String())
	record("CPU per 100 MiB: bootstrap (download + checks)", boot.String())
	check := boot.self - dl.self
	record("  of it the check (bootstrap's client CPU - download's)", fmt.Sprintf("%d ms", check.Milliseconds()))
	record("  CPU ratio raw GET / bootstrap (both sides)", fmt.Sprintf("%.0f%%", 100*raw.total().Seconds()/boot.total().Seconds()))
	record("  the same without the check's CPU", fmt.Sprintf("%.0f%%", 100*raw.total().Seconds()/(boot.total()-check).Seconds()))
}

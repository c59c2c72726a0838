package cachefile

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// The benchmarks compare whycache's reader with a Go map and bbolt holding
// the same data, in the same process and run: $CACHEFILE_BENCH_KEYS keys
// (default 1M) of 16 bytes, with values of 64 to 191 bytes, looked up in a
// random order. hack/bench.d/cachefile.sh runs them and prints the table.

type benchFixture struct {
	dir    string
	keys   [][]byte
	values [][]byte
	order  [][]byte // random lookup order, a power-of-two long
	m      map[string][]byte
	path   string // the whycache file
	r      *Reader
	st     Stats
	sealed SealInfo
	db     *bolt.DB
	build  map[string]time.Duration
}

var (
	fixtureOnce sync.Once
	fixture     *benchFixture
	fixtureErr  error
)

func benchKeys() int {
	if n, err := strconv.Atoi(os.Getenv("CACHEFILE_BENCH_KEYS")); err == nil && n > 0 {
		return n
	}
	return 1 << 20
}

func benchKey(i int) []byte { return fmt.Appendf(nil, "key:%012d", i) }

func benchValue(rng interface{ IntN(int) int }, i int) []byte {
	v := make([]byte, 64+rng.IntN(128))
	for j := range v {
		v[j] = byte(i + j)
	}
	return v
}

// getFixture builds the shared data set once per process.
func getFixture(b *testing.B) *benchFixture {
	fixtureOnce.Do(func() { fixture, fixtureErr = buildFixture(benchKeys()) })
	if fixtureErr != nil {
		b.Fatal(fixtureErr)
	}
	return fixture
}

func buildFixture(n int) (*benchFixture, error) {
	dir, err := os.MkdirTemp("", "cachefile-bench-")
	if err != nil {
		return nil, err
	}
	f := &benchFixture{dir: dir, m: make(map[string][]byte, n), path: filepath.Join(dir, "cache"), build: map[string]time.Duration{}}
	rng := newRand(1)
	for i := range n {
		f.keys = append(f.keys, benchKey(i))
		f.values = append(f.values, benchValue(rng, i))
	}
	f.order = make([][]byte, nextPow2(uint64(n)))
	for i := range f.order {
		f.order[i] = f.keys[rng.IntN(n)]
	}
	start := time.Now()
	for i, k := range f.keys {
		f.m[string(k)] = f.values[i]
	}
	f.build["map"] = time.Since(start)

	start = time.Now()
	w, err := OpenWriter(context.Background(), f.path, testLogID, Options{NoSync: true})
	if err != nil {
		return nil, err
	}
	const batch = 10_000
	ops := make([]Op, 0, batch)
	for i := 0; i < n; i += batch {
		ops = ops[:0]
		for j := i; j < min(i+batch, n); j++ {
			ops = append(ops, Op{Key: f.keys[j], Value: f.values[j]})
		}
		if err := w.Apply(uint64(i/batch+1), ops); err != nil {
			return nil, err
		}
	}
	if err := w.Compact(context.Background()); err != nil {
		return nil, err
	}
	f.st = w.Stats()
	if f.sealed, err = w.Seal(context.Background(), f.path+".sealed"); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	f.build["whycache"] = time.Since(start)
	if f.r, err = Open(f.path); err != nil {
		return nil, err
	}

	start = time.Now()
	f.db, err = bolt.Open(filepath.Join(dir, "bolt.db"), 0o644, &bolt.Options{NoSync: true})
	if err != nil {
		return nil, err
	}
	for i := 0; i < n; i += batch {
		err := f.db.Update(func(tx *bolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			for j := i; j < min(i+batch, n); j++ {
				if err := bk.Put(f.keys[j], f.values[j]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	f.build["bbolt"] = time.Since(start)
	return f, nil
}

func cleanupBenchFixtures() {
	if fixture != nil {
		fixture.r.Close()
		fixture.db.Close()
		os.RemoveAll(fixture.dir)
	}
}

// getter looks up key and copies its value into buf (or, for the -alloc
// and nocopy variants, allocates a copy or only touches the value).
type getter func(key []byte, buf []byte) []byte

// cpuTime returns the CPU time (user and system) the process has used.
// Benchmarks report it per operation next to ns/op (wall time): on a
// machine shared with other work, it is the steadier of the two.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time per operation since start.
func reportCPU(b *testing.B, start time.Duration, ops int) {
	b.ReportMetric(float64(cpuTime()-start)/float64(ops), "cpu-ns/op")
}

func (f *benchFixture) getters(b *testing.B) []struct {
	name string
	get  getter
} {
	r, m, db := f.r, f.m, f.db
	fail := func(key []byte, err error) { panic(fmt.Sprintf("lookup %q: %v", key, err)) }
	return []struct {
		name string
		get  getter
	}{
		{"map", func(key, buf []byte) []byte { return append(buf[:0], m[string(key)]...) }},
		{"map-alloc", func(key, _ []byte) []byte { v := m[string(key)]; return append(make([]byte, 0, len(v)), v...) }},
		{"whycache-view", func(key, buf []byte) []byte {
			if err := r.View(key, func(v []byte) { buf = append(buf[:0], v...) }); err != nil {
				fail(key, err)
			}
			return buf
		}},
		{"whycache-view-unguarded", func(key, buf []byte) []byte {
			if err := unguardedView(r, key, func(v []byte) { buf = append(buf[:0], v...) }); err != nil {
				fail(key, err)
			}
			return buf
		}},
		{"whycache-view-nocopy", func(key, buf []byte) []byte {
			if err := r.View(key, func(v []byte) { buf = buf[:1]; buf[0] = v[len(v)-1] }); err != nil {
				fail(key, err)
			}
			return buf
		}},
		{"whycache-get", func(key, _ []byte) []byte {
			v, err := r.Get(key)
			if err != nil {
				fail(key, err)
			}
			return v
		}},
		{"bbolt", func(key, buf []byte) []byte {
			_ = db.View(func(tx *bolt.Tx) error {
				buf = append(buf[:0], tx.Bucket([]byte("b")).Get(key)...)
				return nil
			})
			return buf
		}},
	}
}

// BenchmarkGet looks keys up in a random order, in one goroutine (g1) and
// in 8 goroutines (g8, over GOMAXPROCS cores).
func BenchmarkGet(b *testing.B) {
	f := getFixture(b)
	mask := len(f.order) - 1
	for _, g := range f.getters(b) {
		b.Run(g.name+"/g1", func(b *testing.B) {
			buf := make([]byte, 0, 256)
			b.ReportAllocs()
			b.ResetTimer()
			cpu := cpuTime()
			for i := range b.N {
				buf = g.get(f.order[i&mask], buf)
			}
			reportCPU(b, cpu, b.N)
		})
		b.Run(g.name+"/g8", func(b *testing.B) {
			var seq atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
			cpu := cpuTime()
			b.RunParallel(func(pb *testing.PB) {
				buf := make([]byte, 0, 256)
				i := int(seq.Add(1)) * 7919
				for pb.Next() {
					buf = g.get(f.order[i&mask], buf)
					i++
				}
			})
			reportCPU(b, cpu, b.N)
		})
	}
	// Zero-copy lookups through a Pin taken for every 1024 lookups (a
	// request's worth), in each goroutine; -unguarded without the fault
	// guard, as a peer that shows its cost.
	for _, guarded := range []bool{true, false} {
		name := "whycache-pin-view"
		if !guarded {
			name += "-unguarded"
		}
		b.Run(name+"/g1", func(b *testing.B) {
			b.ReportAllocs()
			b.ResetTimer()
			cpu := cpuTime()
			n := 0
			benchPinned(b, f, guarded, 0, func() bool { n++; return n <= b.N })
			reportCPU(b, cpu, b.N)
		})
		b.Run(name+"/g8", func(b *testing.B) {
			var seq atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
			cpu := cpuTime()
			b.RunParallel(func(pb *testing.PB) { benchPinned(b, f, guarded, int(seq.Add(1))*7919, pb.Next) })
			reportCPU(b, cpu, b.N)
		})
	}
	// bbolt with one read transaction for all lookups: its best case.
	b.Run("bbolt-sharedtx/g1", func(b *testing.B) {
		tx, err := f.db.Begin(false)
		if err != nil {
			b.Fatal(err)
		}
		defer tx.Rollback()
		bk := tx.Bucket([]byte("b"))
		buf := make([]byte, 0, 256)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			buf = append(buf[:0], bk.Get(f.order[i&mask])...)
		}
	})
}

// benchPinned looks keys up through a Pin, taking a new one every 1024
// lookups, while next returns true.
func benchPinned(b *testing.B, f *benchFixture, guarded bool, start int, next func() bool) {
	mask := len(f.order) - 1
	p, err := f.r.Pin()
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 256)
	copyValue := func(v []byte) { buf = append(buf[:0], v...) }
	for i := start; next(); i++ {
		if i&1023 == 0 {
			p.Release()
			if p, err = f.r.Pin(); err != nil {
				b.Fatal(err)
			}
		}
		if guarded {
			err = p.View(f.order[i&mask], copyValue)
		} else {
			err = unguardedPinView(p, f.order[i&mask], copyValue)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	p.Release()
}

// unguardedView is Reader.View without the fault guard: the peer that
// shows what the guard costs.
func unguardedView(r *Reader, key []byte, fn func([]byte)) error {
	var rd guardedRead
	if err := r.acquire(&rd); err != nil {
		return err
	}
	defer rd.release()
	v, err := rd.g.m.lookup(key)
	if err != nil {
		return err
	}
	fn(v)
	return nil
}

// unguardedPinView is Pin.View without the fault guard.
func unguardedPinView(p *Pin, key []byte, fn func([]byte)) error {
	v, err := p.g.m.lookup(key)
	if err != nil {
		return err
	}
	fn(v)
	return nil
}

// BenchmarkApply measures the writer's throughput for batches of 1, 100 and
// 10,000 operations: sets of 100-byte values to keys drawn at random from
// 1M (inserts at first, then more and more overwrites, with the growths
// and compactions they cause), with the default options: durable
// generations, a checkpoint every 30 s; and for 10,000 with NoSync, which
// shows what the fsyncs of new generations cost.
func BenchmarkApply(b *testing.B) {
	for _, c := range []struct {
		size   int
		noSync bool
	}{{1, false}, {100, false}, {10_000, false}, {10_000, true}} {
		name, size := fmt.Sprintf("batch=%d", c.size), c.size
		if c.noSync {
			name += "/nosync"
		}
		b.Run(name, func(b *testing.B) {
			w, err := OpenWriter(context.Background(), filepath.Join(b.TempDir(), "cache"), testLogID, Options{NoSync: c.noSync})
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			rng := newRand(2)
			value := make([]byte, 100)
			ops := make([]Op, size)
			keys := make([][]byte, 1<<20)
			backing := make([]byte, 0, 16*len(keys)) // one object for the GC to scan
			for i := range keys {
				backing = fmt.Appendf(backing, "key:%012d", rng.IntN(1<<20))
				keys[i] = backing[len(backing)-16:]
			}
			b.ResetTimer()
			start, cpu := time.Now(), cpuTime()
			for i := range b.N {
				for j := range ops {
					ops[j] = Op{Key: keys[(i*size+j)&(len(keys)-1)], Value: value}
				}
				if err := w.Apply(uint64(i+1), ops); err != nil {
					b.Fatal(err)
				}
			}
			el := time.Since(start)
			b.ReportMetric(float64(b.N*size)/el.Seconds(), "ops/s")
			reportCPU(b, cpu, b.N*size)
			st := w.Stats()
			b.ReportMetric(float64(st.Compactions), "generations")
		})
	}
}

// BenchmarkFileSize reports the size of the compacted 1M-key file per byte
// of live keys, values and index: disk blocks of the live generation
// (its headroom is a hole), and the length of the sealed copy.
func BenchmarkFileSize(b *testing.B) {
	f := getFixture(b)
	live := float64(f.st.LiveBytes + f.st.IndexBytes)
	for range b.N {
	}
	b.ReportMetric(float64(f.st.DiskSize)/live, "disk/live")
	b.ReportMetric(float64(f.sealed.Size)/float64(f.st.LiveBytes+int64(8*nextPow2(uint64(float64(f.st.LiveKeys)/DefaultMaxLoadFactor)+1))), "sealed/live")
	b.ReportMetric(float64(f.st.FileSize)/live, "apparent/live")
	b.ReportMetric(float64(f.st.LiveKeys), "keys")
}

func init() { children["bench-reader"] = benchReaderChild }

// benchReaderChild opens the file, says "ready", waits for a line with a
// lookup count on stdin, does that many lookups, and says "done".
func benchReaderChild() int {
	r, err := Open(os.Getenv("CF_PATH"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	n, _ := strconv.Atoi(os.Getenv("CF_KEYS"))
	keys := make([][]byte, 1<<16)
	rng := newRand(uint64(os.Getpid()))
	for i := range keys {
		keys[i] = benchKey(rng.IntN(n))
	}
	// Touch the whole file once so that no process pays page faults.
	_ = r.Range(func(k, v []byte) bool { return true })
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		count, _ := strconv.Atoi(in.Text())
		var sink byte
		for i := range count {
			if err := r.View(keys[i&(len(keys)-1)], func(v []byte) { sink += v[0] }); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
		fmt.Println("done", sink|1 != 0) // uses sink, so the lookups are not optimised away
	}
	return 0
}

// BenchmarkReaderProcesses runs 1 and 2 reader processes (one goroutine
// each) that share b.N lookups; ns/op is wall time per lookup, so the
// scaling is the ratio of the two.
func BenchmarkReaderProcesses(b *testing.B) {
	f := getFixture(b)
	for _, procs := range []int{1, 2} {
		b.Run(fmt.Sprintf("procs=%d", procs), func(b *testing.B) {
			type child struct {
				cmd *exec.Cmd
				in  io.WriteCloser
				out *bufio.Scanner
			}
			cs := make([]child, procs)
			for i := range cs {
				cmd := exec.Command(os.Args[0], "-test.run=^$")
				cmd.Env = append(os.Environ(), childEnv+"=bench-reader", "CF_PATH="+f.path, fmt.Sprintf("CF_KEYS=%d", len(f.keys)), "GOMAXPROCS=1")
				cmd.Stderr = os.Stderr
				in, _ := cmd.StdinPipe()
				out, _ := cmd.StdoutPipe()
				if err := cmd.Start(); err != nil {
					b.Fatal(err)
				}
				cs[i] = child{cmd, in, bufio.NewScanner(out)}
				defer cmd.Wait()
				defer in.Close()
				if !cs[i].out.Scan() {
					b.Fatal("reader process did not start")
				}
			}
			b.ResetTimer()
			start := time.Now()
			for _, c := range cs {
				fmt.Fprintln(c.in, b.N/procs)
			}
			for _, c := range cs {
				if !c.out.Scan() {
					b.Fatal("reader process failed")
				}
			}
			b.ReportMetric(float64(b.N/procs*procs)/time.Since(start).Seconds(), "lookups/s")
		})
	}
}

// BenchmarkRefCount isolates what the generation reference count (and the
// superseded check) add to a lookup: View against the bare lookup in the
// mapping, on a small file that stays in cache, so that the overhead is
// not hidden behind cache misses; and what the fault guard adds to View
// and Pin.View (against their -unguarded peers). g8 runs 8 goroutines on
// GOMAXPROCS cores.
func BenchmarkRefCount(b *testing.B) {
	path := filepath.Join(b.TempDir(), "cache")
	w, err := OpenWriter(context.Background(), path, testLogID, Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	keys := make([][]byte, 1024)
	ops := make([]Op, len(keys))
	for i := range keys {
		keys[i] = benchKey(i)
		ops[i] = Op{Key: keys[i], Value: []byte("value")}
	}
	if err := w.Apply(1, ops); err != nil {
		b.Fatal(err)
	}
	w.Close()
	r, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	m := r.cur.Load().m
	// One Pin shared by the goroutines: its View only reads it.
	pin, err := r.Pin()
	if err != nil {
		b.Fatal(err)
	}
	defer pin.Release()
	variants := []struct {
		name string
		get  func(k []byte) int
	}{
		{"bare", func(k []byte) int { v, _ := m.lookup(k); return len(v) }},
		{"view", func(k []byte) int {
			n := 0
			_ = r.View(k, func(v []byte) { n = len(v) })
			return n
		}},
		{"view-unguarded", func(k []byte) int {
			n := 0
			_ = unguardedView(r, k, func(v []byte) { n = len(v) })
			return n
		}},
		{"pin-view", func(k []byte) int {
			n := 0
			_ = pin.View(k, func(v []byte) { n = len(v) })
			return n
		}},
		{"pin-view-unguarded", func(k []byte) int {
			n := 0
			_ = unguardedPinView(pin, k, func(v []byte) { n = len(v) })
			return n
		}},
	}
	for _, v := range variants {
		b.Run(v.name+"/g1", func(b *testing.B) {
			n := 0
			for i := range b.N {
				n += v.get(keys[i&1023])
			}
		})
		b.Run(v.name+"/g8", func(b *testing.B) {
			b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
			var seq atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				i, n := int(seq.Add(1))*131, 0
				for pb.Next() {
					n += v.get(keys[i&1023])
					i++
				}
			})
		})
	}
}

// BenchmarkFaultGuard measures what the fault guard (see fault.go) costs
// View and Pin.View: each iteration looks up one key guarded and another
// unguarded, in alternating chunks (so that a loaded machine slows both
// alike), and the benchmark reports the CPU time of its thread per lookup
// for both (time waiting for a core does not count) and their ratio.
// "cached" uses a 1024-key file that stays in the processor's cache (the
// worst case for the ratio), "fixture" the benchmark data set.
func BenchmarkFaultGuard(b *testing.B) {
	small := smallBenchReader(b)
	f := getFixture(b)
	pins := map[*Reader]*Pin{}
	for _, r := range []*Reader{small, f.r} {
		p, err := r.Pin()
		if err != nil {
			b.Fatal(err)
		}
		defer p.Release()
		pins[r] = p
	}
	smallKeys := make([][]byte, 1024)
	for i := range smallKeys {
		smallKeys[i] = benchKey(i)
	}
	var buf []byte
	copyValue := func(v []byte) { buf = append(buf[:0], v...) }
	for _, data := range []struct {
		name string
		r    *Reader
		keys [][]byte
	}{{"cached", small, smallKeys}, {"fixture", f.r, f.order}} {
		r, p, keys := data.r, pins[data.r], data.keys
		variants := []struct {
			name               string
			guarded, unguarded func(k []byte) error
		}{
			{"view", func(k []byte) error { return r.View(k, copyValue) },
				func(k []byte) error { return unguardedView(r, k, copyValue) }},
			{"pin-view", func(k []byte) error { return p.View(k, copyValue) },
				func(k []byte) error { return unguardedPinView(p, k, copyValue) }},
		}
		for _, v := range variants {
			b.Run(data.name+"/"+v.name, func(b *testing.B) {
				mask := len(keys) - 1
				half := len(keys) / 2
				var tg, tu time.Duration
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				run := func(fn func([]byte) error, from, n int) time.Duration {
					start := threadCPUTime()
					for j := range n {
						if err := fn(keys[(from+j)&mask]); err != nil {
							b.Fatal(err)
						}
					}
					return threadCPUTime() - start
				}
				const chunk = 4096
				for i, c := 0, 0; i < b.N; i, c = i+chunk, c+1 {
					n := min(chunk, b.N-i)
					if c%2 == 0 {
						tg += run(v.guarded, i, n)
						tu += run(v.unguarded, i+half, n)
					} else {
						tu += run(v.unguarded, i+half, n)
						tg += run(v.guarded, i, n)
					}
				}
				b.ReportMetric(float64(tg)/float64(b.N), "guarded-cpu-ns/op")
				b.ReportMetric(float64(tu)/float64(b.N), "unguarded-cpu-ns/op")
				b.ReportMetric(float64(tg)/float64(tu), "guard-ratio")
			})
		}
	}
}

// smallBenchReader opens a 1024-key file that stays in the processor's
// cache.
func smallBenchReader(b *testing.B) *Reader {
	path := filepath.Join(b.TempDir(), "cache")
	w, err := OpenWriter(context.Background(), path, testLogID, Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	ops := make([]Op, 1024)
	for i := range ops {
		ops[i] = Op{Key: benchKey(i), Value: []byte("value")}
	}
	if err := w.Apply(1, ops); err != nil {
		b.Fatal(err)
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	r, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	return r
}

// threadCPUTime returns the CPU time of the calling thread.
func threadCPUTime() time.Duration {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	return time.Duration(ts.Nano())
}

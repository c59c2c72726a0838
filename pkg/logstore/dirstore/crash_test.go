package dirstore

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/whycache/whycache/pkg/logstore"
)

// crashPoints returns $CRASH_POINTS, or def.
func crashPoints(t *testing.T, def int) int {
	v := os.Getenv("CRASH_POINTS")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("$CRASH_POINTS=%q: want a positive number", v)
	}
	return n
}

// TestCrashKill9 re-executes the test binary as a writer process (four
// appending goroutines, small segments so that rolls are frequent, and a
// goroutine rewriting the history in a loop), kills it with SIGKILL at a
// random moment, reopens the log and checks that every acknowledged update
// survived at its id and that every update present is whole. It repeats
// this $CRASH_POINTS times (200 by default) on the same log.
func TestCrashKill9(t *testing.T) {
	points := crashPoints(t, 200)
	if testing.Short() {
		points = min(points, 20)
	}
	dir := t.TempDir()
	s, err := Open(t.Context(), dir, logstore.Options{Name: "log", Create: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	r := rand.New(rand.NewPCG(rand.Uint64(), 1))
	acks := map[uint64]ack{}
	var checked uint64 // the log is checked whole up to here
	repairs := &repairCounter{}
	start := time.Now()
	for p := range points {
		c := childConfig{tag: fmt.Sprintf("c%d", p), writers: 4, rewrite: []string{"", "drop-deletes"}[p%2], segment: 16 << 10}
		n := crashChild(t, dir, c, time.Duration(r.IntN(20_000))*time.Microsecond, acks)
		full := p%25 == 24 || p == points-1
		checked = checkAfterCrash(t, dir, acks, checked, full, repairs.logger())
		if t.Failed() {
			t.Fatalf("after crash point %d (%d acknowledged by the killed writer)", p, n)
		}
	}
	t.Logf("%d crash points, %d acknowledged updates checked, in %v; repairs on open: %v",
		points, len(acks), time.Since(start).Round(time.Millisecond), repairs.counts())
}

// crashChild starts a child, kills it delay after its first
// acknowledgement, and records its acknowledgements. It returns how many
// there were.
func crashChild(t *testing.T, dir string, c childConfig, delay time.Duration, acks map[uint64]ack) int {
	cmd, out := startChild(t, dir, c)
	first := make(chan struct{})
	var once sync.Once
	var mine []ack
	readErr := make(chan error, 1)
	go func() {
		readErr <- readAcks(out, c.tag, func(a ack) {
			mine = append(mine, a)
			once.Do(func() { close(first) })
		})
	}()
	select {
	case <-first:
	case err := <-readErr:
		t.Fatalf("the child ended before acknowledging anything: %v, %v", err, cmd.Wait())
	case <-time.After(30 * time.Second):
		t.Fatal("the child acknowledged nothing in 30s")
	}
	time.Sleep(delay)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := <-readErr; err != nil {
		t.Fatal(err)
	}
	var ee *exitError
	if err := cmd.Wait(); !errors.As(err, &ee) || !ee.Sys().(syscall.WaitStatus).Signaled() {
		t.Fatalf("the child was not killed but ended with %v", err)
	}
	for _, a := range mine {
		if old, ok := acks[a.id]; ok {
			t.Fatalf("id %d acknowledged twice: %+v and %+v", a.id, old, a)
		}
		acks[a.id] = a
	}
	return len(mine)
}

// checkAfterCrash reopens the log (which repairs it) and checks it: whole
// when full is set or the horizon has passed checked, otherwise only after
// checked. It returns the new checked position.
func checkAfterCrash(t *testing.T, dir string, acks map[uint64]ack, checked uint64, full bool, log logr.Logger) uint64 {
	s, err := Open(t.Context(), dir, logstore.Options{Name: "log", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	hz, err := s.Horizon(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if full || checked < hz {
		checked = 0
	}
	recent := map[uint64]ack{}
	for id, a := range acks {
		if id > checked {
			recent[id] = a
		}
	}
	all := checkChildLog(t, s, recent, checked)
	if full {
		checkFiles(t, s.Dir())
	}
	if len(all) == 0 {
		return checked
	}
	return all[len(all)-1].ID
}

// repairCounter counts the store's log messages, to report which repairs
// the crash points exercised.
type repairCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *repairCounter) logger() logr.Logger {
	return logr.New(&countSink{LogSink: funcr.New(func(string, string) {}, funcr.Options{}).GetSink(), c: c})
}

type countSink struct {
	logr.LogSink
	c *repairCounter
}

func (s *countSink) Info(level int, msg string, kv ...any)  { s.count(msg) }
func (s *countSink) Error(err error, msg string, kv ...any) { s.count(msg) }

func (s *countSink) count(msg string) {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	if s.c.n == nil {
		s.c.n = map[string]int{}
	}
	s.c.n[msg]++
}

func (s *countSink) WithValues(kv ...any) logr.LogSink { return s }

func (c *repairCounter) counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.n)
}

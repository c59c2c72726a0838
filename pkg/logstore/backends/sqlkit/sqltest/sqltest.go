// Package sqltest holds tests that both SQL log stores run against their
// servers, beyond the conformance suite: appends while the server kills
// connections, concurrent first opens of one log, and logs that must not
// show the password.
package sqltest

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"

	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/storetest"
)

// Opener opens the log opts.Name in the test's database.
type Opener func(ctx context.Context, opts logstore.Options) (logstore.Store, error)

// KillFunc kills every connection of the test's database but the caller's
// own, and returns how many it killed.
type KillFunc func(ctx context.Context) (int, error)

// attempt is one update a writer tried to append.
type attempt struct {
	ops []logstore.Op
	id  uint64 // 0 when the append failed
}

// RunConnectionKill appends from several writers while kill cuts the
// store's connections every few milliseconds, then checks through a fresh
// handle that every acknowledged update is in the log whole, under its id,
// and that every update in the log is one that a writer tried, whole.
func RunConnectionKill(t *testing.T, open Opener, kill KillFunc) {
	ctx := t.Context()
	s, err := open(ctx, logstore.Options{Name: "log", Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const writers = 8
	attempts := make([][]attempt, writers)
	runCtx, cancel := context.WithTimeout(ctx, 4*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() { attempts[w] = appendUntil(runCtx, s, w) })
	}
	kills := killUntil(runCtx, t, kill)
	wg.Wait()
	checkAttempts(t, open, attempts, kills)
}

// appendUntil appends updates of 1 to 20 operations, tagged by writer and
// sequence number, until ctx ends.
func appendUntil(ctx context.Context, s logstore.Store, w int) []attempt {
	r := rand.New(rand.NewPCG(uint64(w), 7))
	var out []attempt
	for seq := 0; ctx.Err() == nil; seq++ {
		ops := make([]logstore.Op, 1+r.IntN(20))
		for j := range ops {
			ops[j] = logstore.Set(fmt.Appendf(nil, "w%d-%06d-%02d", w, seq, j), fmt.Appendf(nil, "value %d", r.Uint64()))
		}
		id, err := s.Append(context.Background(), ops)
		if err != nil {
			id = 0
		}
		out = append(out, attempt{ops: ops, id: id})
	}
	return out
}

// killUntil kills the connections every 10-40 ms until ctx ends and returns
// the number killed.
func killUntil(ctx context.Context, t *testing.T, kill KillFunc) int {
	total := 0
	for ctx.Err() == nil {
		time.Sleep(time.Duration(10+rand.IntN(30)) * time.Millisecond)
		n, err := kill(context.Background())
		if err != nil {
			t.Logf("kill: %v", err)
		}
		total += n
	}
	return total
}

// checkAttempts compares the log with what the writers tried.
func checkAttempts(t *testing.T, open Opener, attempts [][]attempt, kills int) {
	s, err := open(t.Context(), logstore.Options{Name: "log"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	log, err := storetest.ReadAll(t.Context(), s, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	tried := map[string]attempt{} // by the update's first key
	acked, failed := 0, 0
	for _, as := range attempts {
		for _, a := range as {
			tried[string(a.ops[0].Key)] = a
			if a.id != 0 {
				acked++
			} else {
				failed++
			}
		}
	}
	inLog := map[uint64]bool{}
	for _, u := range log {
		inLog[u.ID] = true
		a, ok := tried[string(u.Ops[0].Key)]
		switch {
		case !ok:
			t.Errorf("update %d starts with key %q, which no writer appended first", u.ID, u.Ops[0].Key)
		case a.id != 0 && a.id != u.ID:
			t.Errorf("update %d was acknowledged as id %d", u.ID, a.id)
		default:
			if d := storetest.DiffUpdates([]logstore.Update{u}, []logstore.Update{{ID: u.ID, Ops: a.ops}}); d != "" {
				t.Errorf("update %d is not whole: %s", u.ID, d)
			}
		}
	}
	for _, as := range attempts {
		for _, a := range as {
			if a.id != 0 && !inLog[a.id] {
				t.Errorf("acknowledged update %d is missing", a.id)
			}
		}
	}
	t.Logf("%d connections killed; %d appends acknowledged, %d failed, %d updates in the log", kills, acked, failed, len(log))
	if failed == 0 || acked == 0 || kills == 0 {
		t.Errorf("the test did not exercise both outcomes (%d acknowledged, %d failed, %d kills)", acked, failed, kills)
	}
}

// RunConcurrentOpen opens one new log from several goroutines at once, as
// several processes starting together would, each creating it if missing,
// and checks that they all get the same log.
func RunConcurrentOpen(t *testing.T, open Opener) {
	const n = 8
	ids := make([]logstore.LogID, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			s, err := open(t.Context(), logstore.Options{Name: "race", Create: true})
			if err != nil {
				errs[i] = err
				return
			}
			ids[i] = s.ID()
			if _, err := s.Append(t.Context(), []logstore.Op{logstore.Set([]byte("k"), []byte{byte(i)})}); err != nil {
				errs[i] = err
			}
			errs[i] = s.Close()
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("opener %d: %v", i, errs[i])
		}
		if ids[i] != ids[0] {
			t.Errorf("opener %d got log %s, opener 0 got %s", i, ids[i], ids[0])
		}
	}
	s, err := open(t.Context(), logstore.Options{Name: "race"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if latest, err := s.Latest(t.Context()); err != nil || latest != n {
		t.Errorf("Latest = %d, %v; want %d", latest, err, n)
	}
}

// CaptureLogs returns a logger that records every message with its values,
// and the buffer it records into.
func CaptureLogs() (logr.Logger, *SyncBuffer) {
	var buf SyncBuffer
	return funcr.New(func(prefix, args string) { buf.WriteString(prefix + " " + args + "\n") },
		funcr.Options{Verbosity: 10}), &buf
}

// SyncBuffer is a bytes.Buffer safe for concurrent writes.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// WriteString appends s.
func (b *SyncBuffer) WriteString(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.WriteString(s)
}

// String returns what was written.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// CheckNoSecret fails t when text contains secret.
func CheckNoSecret(t *testing.T, what, text, secret string) {
	t.Helper()
	if secret != "" && strings.Contains(text, secret) {
		t.Errorf("%s shows the password: %s", what, text)
	}
}

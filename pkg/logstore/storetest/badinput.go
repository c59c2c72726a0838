package storetest

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
)

// testLargeValues round-trips the largest key and value the default limits
// allow, and an update with many operations.
func testLargeValues(t *testing.T, h Harness) {
	s := create(t, h.NewNamespace(t), "log")
	key := bytes.Repeat([]byte("k"), logstore.DefaultMaxKeySize)
	value := make([]byte, logstore.DefaultMaxValueSize)
	for i := range value {
		value[i] = byte(i * 7 >> 3)
	}
	many := make([]logstore.Op, 20_000)
	for i := range many {
		many[i] = logstore.Set([]byte(strconv.Itoa(i)), []byte("v"))
	}
	want := []logstore.Update{
		appendOps(t, s, []logstore.Op{logstore.Set(key, value)}),
		appendOps(t, s, []logstore.Op{logstore.Set([]byte("small"), []byte("s")), logstore.Delete(key)}),
		appendOps(t, s, many),
	}
	for _, maxOps := range []int{0, 1} {
		if d := DiffUpdates(readAllPaged(t, s, maxOps), want); d != "" {
			t.Fatalf("read back with maxOps %d: %s", maxOps, d)
		}
	}
}

// readAllPaged reads the whole log in pages of maxOps and fails t on error.
func readAllPaged(t testing.TB, s logstore.Store, maxOps int) []logstore.Update {
	t.Helper()
	all, err := ReadAll(t.Context(), s, 0, maxOps)
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// testLimits checks that updates over a limit are refused with an error
// naming the limit, before anything is written, and that updates at the
// limits pass.
func testLimits(t *testing.T, h Harness) {
	o := h.NewNamespace(t)
	lim := logstore.Limits{MaxKeySize: 16, MaxValueSize: 64, MaxUpdateSize: 200, MaxUpdateOps: 4}
	s := open(t, o, logstore.Options{Name: "small", Create: true, Limits: lim})
	if got := s.Limits(); got != lim {
		t.Fatalf("Limits() = %+v, want %+v", got, lim)
	}
	k := func(n int) []byte { return bytes.Repeat([]byte("k"), n) }
	v := func(n int) []byte { return bytes.Repeat([]byte("v"), n) }
	tests := []struct {
		name  string
		ops   []logstore.Op
		limit int // 0 when the update must pass
	}{
		{"key at limit", []logstore.Op{logstore.Set(k(16), v(1))}, 0},
		{"key over", []logstore.Op{logstore.Set(k(17), v(1))}, 16},
		{"delete key over", []logstore.Op{logstore.Delete(k(17))}, 16},
		{"value at limit", []logstore.Op{logstore.Set(k(1), v(64))}, 0},
		{"value over", []logstore.Op{logstore.Set(k(1), v(65))}, 64},
		{"ops at limit", []logstore.Op{logstore.Set(k(1), nil), logstore.Set(k(2), nil), logstore.Set(k(3), nil), logstore.Delete(k(4))}, 0},
		{"ops over", []logstore.Op{logstore.Set(k(1), nil), logstore.Set(k(2), nil), logstore.Set(k(3), nil), logstore.Delete(k(4)), logstore.Delete(k(5))}, 4},
		{"update at limit", []logstore.Op{logstore.Set(k(16), v(64)), logstore.Set(k(15), v(64)), logstore.Set(k(14), v(27))}, 0},
		{"update over", []logstore.Op{logstore.Set(k(16), v(64)), logstore.Set(k(15), v(64)), logstore.Set(k(14), v(28))}, 200},
		{"valid then over", []logstore.Op{logstore.Set(k(1), v(1)), logstore.Set(k(2), v(65))}, 64},
	}
	big := open(t, o, logstore.Options{Name: "defaults", Create: true})
	defaults := []struct {
		name  string
		ops   []logstore.Op
		limit int
	}{
		{"default key over", []logstore.Op{logstore.Set(k(logstore.DefaultMaxKeySize+1), nil)}, logstore.DefaultMaxKeySize},
		{"default value over", []logstore.Op{logstore.Set(k(1), make([]byte, logstore.DefaultMaxValueSize+1))}, logstore.DefaultMaxValueSize},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { checkRefused(t, s, tc.ops, tooLarge(tc.limit), tc.limit) })
	}
	for _, tc := range defaults {
		t.Run(tc.name, func(t *testing.T) { checkRefused(t, big, tc.ops, logstore.ErrTooLarge, tc.limit) })
	}
}

// tooLarge returns ErrTooLarge for a limit, or nil for 0 (no limit broken).
func tooLarge(limit int) error {
	if limit == 0 {
		return nil
	}
	return logstore.ErrTooLarge
}

// checkRefused appends ops and checks the outcome: success when want is nil;
// otherwise an error matching want that names limit (when not 0), and the log
// unchanged.
func checkRefused(t *testing.T, s logstore.Store, ops []logstore.Op, want error, limit int) {
	ctx := t.Context()
	before := mustReadAll(t, s)
	id, err := s.Append(ctx, ops)
	if want == nil {
		if err != nil {
			t.Fatalf("append at the limits: %v", err)
		}
		if got := mustReadAll(t, s); len(got) != len(before)+1 || got[len(got)-1].ID != id {
			t.Fatalf("after append of id %d the log has %d updates, want %d", id, len(got), len(before)+1)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("append: got id %d, error %v; want %v", id, err, want)
	}
	if limit != 0 && !strings.Contains(err.Error(), strconv.Itoa(limit)) {
		t.Errorf("error %q does not name the limit %d", err, limit)
	}
	if d := DiffUpdates(mustReadAll(t, s), before); d != "" {
		t.Errorf("the log changed after a refused append: %s", d)
	}
}

// testInvalid checks that malformed updates are refused with ErrInvalid and
// leave the log unchanged.
func testInvalid(t *testing.T, h Harness) {
	s := create(t, h.NewNamespace(t), "log")
	appendOps(t, s, []logstore.Op{logstore.Set([]byte("a"), []byte("1"))})
	tests := []struct {
		name string
		ops  []logstore.Op
	}{
		{"nil", nil},
		{"empty", []logstore.Op{}},
		{"empty key", []logstore.Op{logstore.Set(nil, []byte("v"))}},
		{"empty key delete", []logstore.Op{logstore.Delete([]byte{})}},
		{"zero type", []logstore.Op{{Key: []byte("k")}}},
		{"unknown type", []logstore.Op{{Type: 9, Key: []byte("k"), Value: []byte("v")}}},
		{"delete with value", []logstore.Op{{Type: logstore.OpDelete, Key: []byte("k"), Value: []byte("v")}}},
		{"valid then invalid", []logstore.Op{logstore.Set([]byte("b"), []byte("2")), logstore.Set(nil, nil)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { checkRefused(t, s, tc.ops, logstore.ErrInvalid, 0) })
	}
}

// testClosed checks that every call on a closed store fails with ErrClosed,
// and that Close wakes a blocked Wait.
func testClosed(t *testing.T, h Harness) {
	o := h.NewNamespace(t)
	s := create(t, o, "log")
	appendOps(t, s, []logstore.Op{logstore.Set([]byte("a"), []byte("1"))})
	waiter := open(t, o, logstore.Options{Name: "log"})
	done := make(chan error, 1)
	go func() {
		_, err := waiter.Wait(t.Context(), 1<<62)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond) // let Wait block
	if err := waiter.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := <-done; !errors.Is(err, logstore.ErrClosed) {
		t.Errorf("Wait blocked during Close returned %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	ctx := t.Context()
	calls := map[string]func() error{
		"Append":    func() error { _, err := s.Append(ctx, []logstore.Op{logstore.Set([]byte("b"), nil)}); return err },
		"Read":      func() error { _, err := s.Read(ctx, 0, 0); return err },
		"Latest":    func() error { _, err := s.Latest(ctx); return err },
		"Horizon":   func() error { _, err := s.Horizon(ctx); return err },
		"Wait":      func() error { _, err := s.Wait(ctx, 0); return err },
		"Rewrite":   func() error { _, err := s.Rewrite(ctx, logstore.RewriteOptions{Through: 1}); return err },
		"Heartbeat": func() error { return s.Heartbeat(ctx, logstore.NodeProgress{Node: "n", AppliedID: 1}) },
		"Nodes":     func() error { _, err := s.Nodes(ctx); return err },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			if err := call(); !errors.Is(err, logstore.ErrClosed) {
				t.Errorf("%s after Close: %v, want ErrClosed", name, err)
			}
		})
	}
}

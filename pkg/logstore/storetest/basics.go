package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
)

// RunBasics checks the single-handle contract: identity, append and read,
// pages, limits, bad input, Close, Wait and heartbeats.
func RunBasics(t *testing.T, h Harness) {
	t.Run("Identity", func(t *testing.T) { testIdentity(t, h) })
	t.Run("IndependentLogs", func(t *testing.T) { testIndependent(t, h) })
	t.Run("AppendRead", func(t *testing.T) { testAppendRead(t, h) })
	t.Run("Pages", func(t *testing.T) { testPages(t, h) })
	t.Run("LargeValues", func(t *testing.T) { testLargeValues(t, h) })
	t.Run("Limits", func(t *testing.T) { testLimits(t, h) })
	t.Run("Invalid", func(t *testing.T) { testInvalid(t, h) })
	t.Run("Closed", func(t *testing.T) { testClosed(t, h) })
	t.Run("Wait", func(t *testing.T) { testWait(t, h) })
	t.Run("Nodes", func(t *testing.T) { testNodes(t, h) })
	t.Run("OnCommit", func(t *testing.T) { testOnCommit(t, h) })
}

func testIdentity(t *testing.T, h Harness) {
	o := h.NewNamespace(t)
	if _, err := o(t, logstore.Options{Name: "log"}); !errors.Is(err, logstore.ErrNotFound) {
		t.Fatalf("open a missing log without Create: got %v, want ErrNotFound", err)
	}
	if _, err := o(t, logstore.Options{Name: "Bad-Name", Create: true}); !errors.Is(err, logstore.ErrInvalid) {
		t.Fatalf("open a log with an invalid name: got %v, want ErrInvalid", err)
	}
	s := create(t, o, "log")
	id := s.ID()
	if id.IsZero() {
		t.Fatal("a new log has the zero identity")
	}
	appendOps(t, s, []logstore.Op{logstore.Set([]byte("k"), []byte("v"))})
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	other := logstore.NewLogID()
	tests := []struct {
		name    string
		opts    logstore.Options
		wantErr error
	}{
		{"reopen", logstore.Options{Name: "log"}, nil},
		{"create again keeps the log", logstore.Options{Name: "log", Create: true}, nil},
		{"expected identity", logstore.Options{Name: "log", ExpectID: id}, nil},
		{"other identity", logstore.Options{Name: "log", ExpectID: other}, logstore.ErrIdentityMismatch},
		{"other identity with create", logstore.Options{Name: "log", Create: true, ExpectID: other}, logstore.ErrIdentityMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := o(t, tc.opts)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("open: got %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			defer s.Close()
			if s.ID() != id {
				t.Errorf("identity %s, want %s", s.ID(), id)
			}
			if n, err := s.Latest(t.Context()); err != nil || n == 0 {
				t.Errorf("Latest after reopen = %d, %v; want the update appended before", n, err)
			}
		})
	}
}

func testIndependent(t *testing.T, h Harness) {
	o := h.NewNamespace(t)
	a, b := create(t, o, "alpha"), create(t, o, "beta")
	if a.ID() == b.ID() {
		t.Fatalf("two logs share the identity %s", a.ID())
	}
	appendOps(t, a, []logstore.Op{logstore.Set([]byte("a"), []byte("1"))})
	appendOps(t, a, []logstore.Op{logstore.Set([]byte("a"), []byte("2"))})
	appendOps(t, b, []logstore.Op{logstore.Set([]byte("b"), []byte("1"))})
	if err := b.Heartbeat(t.Context(), logstore.NodeProgress{Node: "n1", AppliedID: 1}); err != nil {
		t.Fatal(err)
	}
	if got := mustReadAll(t, b); len(got) != 1 || string(got[0].Ops[0].Key) != "b" {
		t.Errorf("log beta holds %d updates, want only its own one", len(got))
	}
	if got := mustReadAll(t, a); len(got) != 2 {
		t.Errorf("log alpha holds %d updates, want 2", len(got))
	}
	if nodes, err := a.Nodes(t.Context()); err != nil || len(nodes) != 0 {
		t.Errorf("log alpha lists nodes %v, %v; want none (the heartbeat went to beta)", nodes, err)
	}
}

func testAppendRead(t *testing.T, h Harness) {
	o := h.NewNamespace(t)
	s := create(t, o, "log")
	ctx := t.Context()
	if n, err := s.Latest(ctx); err != nil || n != 0 {
		t.Fatalf("Latest of an empty log = %d, %v; want 0", n, err)
	}
	if got, err := s.Read(ctx, 0, 0); err != nil || len(got) != 0 {
		t.Fatalf("Read of an empty log = %d updates, %v; want none", len(got), err)
	}
	if hz, err := s.Horizon(ctx); err != nil || hz != 0 {
		t.Fatalf("Horizon of a new log = %d, %v; want 0", hz, err)
	}
	before := time.Now()
	want := []logstore.Update{
		appendOps(t, s, []logstore.Op{logstore.Set([]byte("a"), []byte("1"))}),
		appendOps(t, s, []logstore.Op{logstore.Set([]byte("b"), []byte{}), logstore.Delete([]byte("a"))}),
		appendOps(t, s, []logstore.Op{logstore.Delete([]byte("missing"))}),
		appendOps(t, s, []logstore.Op{logstore.Set([]byte("a"), []byte("x")), logstore.Set([]byte("a"), []byte("y"))}),
		appendOps(t, s, []logstore.Op{logstore.Set([]byte{0, 0xff, '\n'}, []byte{0, 1, 2})}),
	}
	after := time.Now()
	got := mustReadAll(t, s)
	if d := DiffUpdates(got, want); d != "" {
		t.Fatalf("read back: %s", d)
	}
	const skew = 5 * time.Minute // the store's clock may be another machine's
	for _, u := range got {
		if u.Time.IsZero() || u.Time.Before(before.Add(-skew)) || u.Time.After(after.Add(skew)) {
			t.Errorf("update %d has time %v, want about %v", u.ID, u.Time, before)
		}
	}
	last := want[len(want)-1].ID
	if n, err := s.Latest(ctx); err != nil || n != last {
		t.Errorf("Latest = %d, %v; want %d", n, err, last)
	}
	st := State{}
	for _, u := range got {
		st.Apply(u)
	}
	if d := st.Diff(State{"a": []byte("y"), "b": {}, "\x00\xff\n": {0, 1, 2}}); d != "" {
		t.Errorf("state: %s", d)
	}
	for _, after := range []uint64{last, last + 1, last + 1000} {
		if page, err := s.Read(ctx, after, 10); err != nil || len(page) != 0 {
			t.Errorf("Read after %d (the end is %d) = %d updates, %v; want none", after, last, len(page), err)
		}
	}
	if page, err := s.Read(ctx, want[1].ID, 1); err != nil || len(page) != 1 || page[0].ID != want[2].ID {
		t.Errorf("Read after %d with maxOps 1 = %v, %v; want update %d", want[1].ID, page, err, want[2].ID)
	}
}

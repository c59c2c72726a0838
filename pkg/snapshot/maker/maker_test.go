package maker_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/whycache/whycache/pkg/agentapi"
	"github.com/whycache/whycache/pkg/cachefile"
	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/backends"
	"github.com/whycache/whycache/pkg/logstore/storetest"
	"github.com/whycache/whycache/pkg/snapshot"
	"github.com/whycache/whycache/pkg/snapshot/maker"
)

// countingStore records where reads of the log start.
type countingStore struct {
	logstore.Store
	replays   atomic.Int64
	firstRead atomic.Int64 // the after of the first Read, +1 (0: none)
}

func (c *countingStore) Read(ctx context.Context, after uint64, maxOps int) ([]logstore.Update, error) {
	c.firstRead.CompareAndSwap(0, int64(after)+1)
	return c.Store.Read(ctx, after, maxOps)
}

func (c *countingStore) ReadReplay(ctx context.Context, after uint64, maxOps int, horizon uint64) ([]logstore.Update, error) {
	c.replays.Add(1)
	return c.Store.ReadReplay(ctx, after, maxOps, horizon)
}

func openLog(t *testing.T) logstore.Store {
	t.Helper()
	s, err := backends.Open(t.Context(), t.TempDir(), logstore.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func appendN(t *testing.T, s logstore.Store, from, n int) uint64 {
	t.Helper()
	var id uint64
	for i := from; i < from+n; i++ {
		ops := []logstore.Op{logstore.Set([]byte(fmt.Sprintf("k%d", i%37)), []byte(fmt.Sprintf("v%d", i)))}
		if i%5 == 0 {
			ops = append(ops, logstore.Delete([]byte(fmt.Sprintf("k%d", (i+3)%37))))
		}
		var err error
		if id, err = s.Append(t.Context(), ops); err != nil {
			t.Fatal(err)
		}
	}
	return id
}

// stateOf downloads the newest snapshot and returns its contents.
func stateOf(t *testing.T, l *snapshot.Layout, log logstore.LogID) (storetest.State, uint64) {
	t.Helper()
	m, err := l.Latest(t.Context(), log)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "s.whycache")
	if _, err := l.Download(t.Context(), m, p, snapshot.DownloadOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cachefile.Verify(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	r, err := cachefile.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	st := storetest.State{}
	for k, v := range r.All() {
		st[string(k)] = append([]byte(nil), v...)
	}
	return st, r.UpdateID()
}

func TestCreateIncremental(t *testing.T) {
	ctx := t.Context()
	log := openLog(t)
	ds, err := snapshot.NewDirStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	layout := snapshot.NewLayout(ds, "snaps")
	head := appendN(t, log, 0, 200)

	first := &countingStore{Store: log}
	res, err := maker.Create(ctx, maker.Options{Layout: layout, Store: first, TempDir: t.TempDir(), Keep: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.Kind != agentapi.KindSnapshot || res.UpdateID != head || res.Skipped || res.Bytes == 0 {
		t.Fatalf("first snapshot: %+v", res)
	}
	if first.replays.Load() == 0 {
		t.Fatalf("the first snapshot did not replay the log")
	}
	all := readAll(t, log)
	if st, id := stateOf(t, layout, log.ID()); id != head || st.Diff(storetest.StateAt(all, head)) != "" {
		t.Fatalf("first snapshot at %d: %s", id, st.Diff(storetest.StateAt(all, head)))
	}

	again, err := maker.Create(ctx, maker.Options{Layout: layout, Store: log, TempDir: t.TempDir()})
	if err != nil || !again.Skipped || again.UpdateID != head || again.Key != res.Key {
		t.Fatalf("a run with nothing new: %+v, %v", again, err)
	}

	head2 := appendN(t, log, 200, 50)
	second := &countingStore{Store: log}
	res2, err := maker.Create(ctx, maker.Options{Layout: layout, Store: second, TempDir: t.TempDir(), Keep: 2})
	if err != nil {
		t.Fatal(err)
	}
	if second.replays.Load() != 0 || second.firstRead.Load()-1 != int64(head) {
		t.Fatalf("the second snapshot replayed %d times, first read after %d; want no replay and the tail after %d",
			second.replays.Load(), second.firstRead.Load()-1, head)
	}
	all = readAll(t, log)
	if st, id := stateOf(t, layout, log.ID()); id != head2 || res2.UpdateID != head2 || st.Diff(storetest.StateAt(all, head2)) != "" {
		t.Fatalf("second snapshot at %d: %s", id, st.Diff(storetest.StateAt(all, head2)))
	}
}

func readAll(t *testing.T, s logstore.Store) []logstore.Update {
	t.Helper()
	all, err := storetest.ReadAll(t.Context(), s, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return all
}

package snapshot_test

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/snapshot"
)

// TestNewestUsable: the start-up decision's input is the newest snapshot
// whose object is in place and whose id lies between the horizon and the
// head; it downloads nothing.
func TestNewestUsable(t *testing.T) {
	store := openStore(t, filepath.Join(t.TempDir(), "log"))
	layout, _ := s3Layout(t)
	_, bs := agentConfig(t, "", "n", layout)
	if _, err := bs.NewestUsable(t.Context(), store); !errors.Is(err, snapshot.ErrNoSnapshot) {
		t.Fatalf("with no snapshot: %v, want ErrNoSnapshot", err)
	}
	write(t, store, 0, 50)
	first := snap(t, store, layout)
	write(t, store, 50, 50)
	second := snap(t, store, layout)
	if m, err := bs.NewestUsable(t.Context(), store); err != nil || m.UpdateID != second {
		t.Fatalf("newest usable: %d, %v; want %d", m.UpdateID, err, second)
	}
	m, _ := layout.Latest(t.Context(), store.ID())
	if err := layout.Store().Delete(t.Context(), m.Object); err != nil {
		t.Fatal(err)
	}
	if m, err := bs.NewestUsable(t.Context(), store); err != nil || m.UpdateID != first {
		t.Fatalf("with the newest object gone: %d, %v; want %d", m.UpdateID, err, first)
	}
	last := write(t, store, 100, 10)
	if _, err := store.Rewrite(t.Context(), logstore.RewriteOptions{Through: last, DeleteLimit: second}); err != nil {
		t.Fatal(err)
	}
	if m, err := bs.NewestUsable(t.Context(), store); !errors.Is(err, snapshot.ErrNoSnapshot) {
		t.Fatalf("with the only object-backed snapshot (%d) below the horizon (%d): %d, %v; want ErrNoSnapshot", first, second, m.UpdateID, err)
	}
}

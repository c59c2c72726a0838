package nodeagent_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	nodeagent "github.com/whycache/whycache/node-agent"
	"github.com/whycache/whycache/pkg/cachefile"
	"github.com/whycache/whycache/pkg/logstore"
)

// TestOldCorruptFilesRemoved corrupts the cache file of a directory that
// already holds three files moved aside: after the rebuild, the new one and
// the newest old one are kept, the others removed.
func TestOldCorruptFilesRemoved(t *testing.T) {
	logDir := t.TempDir()
	store := openLog(t, logDir)
	cfg := dirConfig(t, logDir, "n1")
	ta := start(t, cfg)
	id, err := store.Append(t.Context(), []logstore.Op{logstore.Set([]byte("a"), []byte("1"))})
	if err != nil {
		t.Fatal(err)
	}
	ta.WaitApplied(t, id)
	ta.Stop(t)
	for _, old := range []string{".corrupt-100", ".corrupt-200", ".corrupt-300"} {
		if err := os.WriteFile(ta.CachePath()+old, []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(ta.CachePath(), []byte("garbage!garbage!"), 0o644); err != nil {
		t.Fatal(err)
	}
	spy := &dirSpy{Bootstrapper: nodeagent.ReplayBootstrapper{}}
	cfg.Bootstrap = spy
	ta2 := start(t, cfg)
	ta2.WaitApplied(t, id)
	if len(spy.dirs) == 0 {
		t.Fatal("the corrupt file was not bootstrapped")
	}
	for _, d := range spy.dirs {
		if fi, err := os.Stat(d); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("bootstrap wrote its files in %s (%v, %v), want a 0700 directory", d, fi, err)
		}
	}
	aside, _ := filepath.Glob(ta2.CachePath() + ".corrupt-*")
	if len(aside) != 2 || !slices.Contains(aside, ta2.CachePath()+".corrupt-300") {
		t.Errorf("files moved aside: %v, want the new one and .corrupt-300", aside)
	}
}

// dirSpy records the directories a bootstrapper is given.
type dirSpy struct {
	nodeagent.Bootstrapper
	dirs []string
}

func (s *dirSpy) Bootstrap(ctx context.Context, store logstore.Store, dir string, opts cachefile.Options) (string, error) {
	s.dirs = append(s.dirs, dir)
	return s.Bootstrapper.Bootstrap(ctx, store, dir, opts)
}

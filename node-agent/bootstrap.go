package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/whycache/whycache/pkg/cachefile"
	"github.com/whycache/whycache/pkg/logstore"
)

// Bootstrapper produces a sealed cache file for an agent whose file cannot
// catch up from the log: it is missing, corrupt, or behind the log's horizon.
type Bootstrapper interface {
	// Bootstrap writes a sealed cache file of the log into dir and returns
	// its path. The agent installs it with cachefile.Writer.Replace, which
	// verifies it, and then tails the log from the file's applied id.
	Bootstrap(ctx context.Context, store logstore.Store, dir string, opts cachefile.Options) (string, error)
}

// Installer is a Bootstrapper that installs its file itself (with
// Writer.Replace), so that it can try another source when the writer
// refuses one, without verifying the file a second time beforehand. The
// agent uses Install when its Bootstrapper has it.
type Installer interface {
	Bootstrapper
	// Install puts a sealed cache file of the log into w, using dir for
	// temporary files.
	Install(ctx context.Context, store logstore.Store, w *cachefile.Writer, dir string, opts cachefile.Options) error
}

// ReplayBootstrapper builds the file by replaying the whole log from the
// start. It needs nothing but the log; a snapshot source is faster for big
// logs.
type ReplayBootstrapper struct {
	// PageOps and PageBytes bound each read (see Config.PageOps and
	// Config.BatchBytes); 0 means the defaults.
	PageOps   int
	PageBytes int64
}

// maxReplayRestarts bounds how often a replay starts over because a
// concurrent history rewrite raised the horizon past it.
const maxReplayRestarts = 5

// Bootstrap replays the log into a new file and seals it.
func (b ReplayBootstrapper) Bootstrap(ctx context.Context, store logstore.Store, dir string, opts cachefile.Options) (string, error) {
	for attempt := 0; ; attempt++ {
		path, err := b.replay(ctx, store, dir, opts)
		if errors.Is(err, logstore.ErrBehindHorizon) && attempt < maxReplayRestarts {
			continue // a rewrite raised the horizon under us; start over.
		}
		return path, err
	}
}

func (b ReplayBootstrapper) replay(ctx context.Context, store logstore.Store, dir string, opts cachefile.Options) (string, error) {
	tmp, err := os.MkdirTemp(dir, ".bootstrap-")
	if err != nil {
		return "", fmt.Errorf("replay bootstrap: %w", err)
	}
	defer os.RemoveAll(tmp)
	w, err := cachefile.OpenWriter(ctx, filepath.Join(tmp, "replay.whycache"), store.ID(), opts)
	if err != nil {
		return "", fmt.Errorf("replay bootstrap: %w", err)
	}
	defer w.Close()
	pageOps, pageBytes := b.PageOps, b.PageBytes
	setDefault(&pageOps, DefaultPageOps)
	setDefault(&pageBytes, DefaultBatchBytes/4)
	pg := newPager(store, pageOps, pageBytes)
	var after uint64
	for {
		page, err := pg.next(ctx, after, pageOps)
		if err != nil {
			return "", fmt.Errorf("replay bootstrap: read after %d: %w", after, err)
		}
		if len(page.updates) == 0 {
			break
		}
		last, ops := flatten(page.updates)
		if err := w.Apply(last, ops); err != nil {
			return "", fmt.Errorf("replay bootstrap: apply through %d: %w", last, err)
		}
		after = last
	}
	sealed, err := os.CreateTemp(dir, ".bootstrap-*.whycache")
	if err != nil {
		return "", fmt.Errorf("replay bootstrap: %w", err)
	}
	sealed.Close()
	if _, err := w.Seal(ctx, sealed.Name()); err != nil {
		os.Remove(sealed.Name())
		return "", fmt.Errorf("replay bootstrap: seal: %w", err)
	}
	return sealed.Name(), nil
}

// flatten turns log updates into one cache-file batch: the id of the last
// update and all their operations, in order.
func flatten(updates []logstore.Update) (uint64, []cachefile.Op) {
	n := 0
	for _, u := range updates {
		n += len(u.Ops)
	}
	ops := make([]cachefile.Op, 0, n)
	for _, u := range updates {
		for _, op := range u.Ops {
			ops = append(ops, cachefile.Op{Delete: op.Type == logstore.OpDelete, Key: op.Key, Value: op.Value})
		}
	}
	return updates[len(updates)-1].ID, ops
}

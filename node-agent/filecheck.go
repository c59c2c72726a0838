package nodeagent

import (
	"context"
	"fmt"

	"github.com/whycache/whycache/pkg/cachefile"
)

// checkFile checks that the cache file's path still names the file the
// agent writes, as it wrote it (see cachefile.Writer.CheckPath); it runs
// before every batch and at every iteration of the sync loop, so a change
// is found within Config.CheckInterval. A file removed, renamed over or
// grown is written anew from the writer's intact content at once; a file
// truncated or overwritten in place has lost its content, and the error
// (a *faultError) makes the sync loop rebuild it. Either way the agent is
// not ready until the file is back.
func (a *Agent) checkFile(ctx context.Context) error {
	st, err := a.w.CheckPath()
	if err != nil {
		return fmt.Errorf("check the cache file: %w", err)
	}
	if st == cachefile.PathOK {
		return nil
	}
	a.metrics.fileFaults.WithLabelValues(st.String()).Inc()
	if st.ContentLost() {
		return &faultError{"file-" + st.String(), fmt.Errorf("the cache file was %s in place under the agent", st)}
	}
	a.log.Error(nil, "cache file changed under the agent; writing it again", "state", st.String(), "path", a.CachePath())
	a.notReady("the cache file was " + st.String() + "; writing it again")
	if err := a.w.Republish(ctx); err != nil {
		return fmt.Errorf("write the cache file again after it was %s: %w", st, err)
	}
	a.notReady("")
	a.refreshStats()
	a.log.Info("cache file written again", "path", a.CachePath(), "appliedID", a.w.UpdateID())
	return nil
}

package snapshot_test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"

	"github.com/whycache/whycache/internal/agenttest"
	"github.com/whycache/whycache/internal/cli"
	"github.com/whycache/whycache/internal/testserver"
	"github.com/whycache/whycache/pkg/agentapi"
	"github.com/whycache/whycache/pkg/cachefile"
	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/snapshot/maker"
)

// safeRewrite runs `whycache rewrite-history --safe` and returns its result.
func safeRewrite(t *testing.T, storeURL, snapURL string, liveAge time.Duration) *agentapi.RewriteResult {
	t.Helper()
	cfg := testserver.S3(t)
	t.Setenv(cli.EnvS3AccessKeyID, cfg.AccessKey)
	t.Setenv(cli.EnvS3SecretAccessKey, cfg.SecretKey)
	root := cli.NewRootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"--store", storeURL, "rewrite-history", "--safe", "--snapshot-url", snapURL, "--live-age", liveAge.String()})
	if err := root.ExecuteContext(t.Context()); err != nil {
		t.Fatalf("rewrite-history --safe: %v\n%s", err, out.String())
	}
	v, err := agentapi.ParseResult(out.String())
	if err != nil {
		t.Fatalf("result line: %v in %q", err, out.String())
	}
	return v.(*agentapi.RewriteResult)
}

// TestNodeAwayAcrossSafeRewrite: a node stops; keys it holds are deleted;
// `rewrite-history --safe` first keeps every delete marker (no snapshot),
// then, with a snapshot, removes them up to it and raises the horizon,
// bounded by the live node only. The node comes back behind the horizon,
// bootstraps from the snapshot and ends equal to a full replay.
func TestNodeAwayAcrossSafeRewrite(t *testing.T) {
	for _, b := range allBackends {
		t.Run(b.name, func(t *testing.T) {
			url := b.url(t)
			store := openStore(t, url)
			layout, snapURL := s3Layout(t)
			live, _ := agentConfig(t, url, "live", layout)
			awayCfg, _ := agentConfig(t, url, "away", layout)
			la := agenttest.Start(t, live)
			away := agenttest.Start(t, awayCfg)
			head := write(t, store, 0, 100)
			away.WaitApplied(t, head)
			away.Stop(t)
			const liveAge = 300 * time.Millisecond
			waitAway(t, store, "away", liveAge)

			// Delete keys the away node holds, and overwrite others.
			var ops []logstore.Op
			for i := range 30 {
				ops = append(ops, logstore.Delete([]byte(fmt.Sprintf("key-%03d", i))))
			}
			if _, err := store.Append(t.Context(), ops); err != nil {
				t.Fatal(err)
			}
			head = write(t, store, 100, 50)
			la.WaitApplied(t, head)
			waitReported(t, store, "live", head)

			res := safeRewrite(t, url, snapURL, liveAge)
			if res.DeleteLimit != 0 || res.Horizon != 0 {
				t.Fatalf("with no snapshot the rewrite dropped delete markers: %+v", res)
			}
			snapID := snap(t, store, layout)
			res = safeRewrite(t, url, snapURL, liveAge)
			if res.DeleteLimit != snapID || res.Horizon != snapID || res.Removed == 0 {
				t.Fatalf("safe rewrite with a snapshot at %d: %+v", snapID, res)
			}
			t.Logf("rewrite: %+v", res)
			head = write(t, store, 150, 20)

			back := agenttest.Start(t, awayCfg)
			back.WaitApplied(t, head)
			if v := metric(t, back, `whycache_agent_bootstrap_source_total{source="snapshot"}`); v != "1" {
				t.Errorf("the returning node's bootstraps from a snapshot = %q, want 1", v)
			}
			back.Stop(t)
			if err := equalMaps(readFile(t, back.CachePath()), replay(t, store)); err != nil {
				t.Fatalf("returning node vs replay: %v", err)
			}
		})
	}
}

// waitAway polls until the node's last heartbeat is older than age.
func waitAway(t *testing.T, s logstore.Store, node string, age time.Duration) {
	t.Helper()
	waitNode(t, s, node, fmt.Sprintf("a heartbeat older than %s", age), func(n logstore.NodeProgress) bool {
		return time.Since(n.Heartbeat) > age
	})
}

// waitReported polls until the node's heartbeat in the store reports id
// applied: the agent applies before it reports, and a safe rewrite reads
// the reports.
func waitReported(t *testing.T, s logstore.Store, node string, id uint64) {
	t.Helper()
	waitNode(t, s, node, fmt.Sprintf("update %d applied", id), func(n logstore.NodeProgress) bool { return n.AppliedID >= id })
}

// waitNode polls the store's node records until node's satisfies ok.
func waitNode(t *testing.T, s logstore.Store, node, want string, ok func(logstore.NodeProgress) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		nodes, err := s.Nodes(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes {
			if n.Node == node && ok(n) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s has not reported %s: %+v", node, want, nodes)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRetentionKeepsTheRewritesSnapshot: the snapshot a safe rewrite
// relied on (named in its result line) survives retention with --keep 1
// until a later rewrite relies on a newer one.
func TestRetentionKeepsTheRewritesSnapshot(t *testing.T) {
	url := filepath.Join(t.TempDir(), "log")
	store := openStore(t, url)
	layout, snapURL := s3Layout(t)
	keep1 := func() uint64 {
		t.Helper()
		res, err := maker.Create(t.Context(), maker.Options{Layout: layout, Store: store, TempDir: t.TempDir(), Keep: 1,
			Cache: cachefile.Options{NoSync: true}, Log: testr.New(t).WithName("maker")})
		if err != nil {
			t.Fatal(err)
		}
		return res.UpdateID
	}
	ids := func() []uint64 {
		t.Helper()
		all, err := layout.List(t.Context(), store.ID())
		if err != nil {
			t.Fatal(err)
		}
		var out []uint64
		for _, m := range all {
			if err := layout.Check(t.Context(), m); err != nil {
				t.Errorf("kept snapshot %d: %v", m.UpdateID, err)
			}
			out = append(out, m.UpdateID)
		}
		return out
	}
	write(t, store, 0, 50)
	relied := keep1()
	res := safeRewrite(t, url, snapURL, time.Minute)
	if res.DeleteLimit == 0 || res.SnapshotID != relied || res.SnapshotManifest == "" {
		t.Fatalf("safe rewrite over the snapshot at %d: %+v", relied, res)
	}
	write(t, store, 50, 20)
	middle := keep1()
	write(t, store, 70, 20)
	newest := keep1()
	if got := ids(); !slices.Equal(got, []uint64{newest, relied}) {
		t.Fatalf("after retention (keep 1) the snapshots are %v, want %v (the newest and the one the rewrite relied on; %d gone)", got, []uint64{newest, relied}, middle)
	}
	res = safeRewrite(t, url, snapURL, time.Minute)
	if res.SnapshotID != newest {
		t.Fatalf("second rewrite relied on %d, want %d: %+v", res.SnapshotID, newest, res)
	}
	write(t, store, 90, 20)
	last := keep1()
	if got := ids(); !slices.Equal(got, []uint64{last, newest}) {
		t.Fatalf("after the second rewrite and retention the snapshots are %v, want %v", got, []uint64{last, newest})
	}
}

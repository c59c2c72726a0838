package e2e

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/whycache/whycache"
	"github.com/whycache/whycache/internal/agenttest"
	"github.com/whycache/whycache/pkg/agentapi"
)

// twoNodes runs two in-process agents over one log and returns a client per
// node; node 0's client writes through its agent with read-your-writes.
type twoNodes struct {
	dirs    [2]string
	clients [2]*whycache.Client
}

func newTwoNodes(t *testing.T, url string) *twoNodes {
	n := &twoNodes{}
	root := t.TempDir()
	for i := range n.dirs {
		n.dirs[i] = filepath.Join(root, []string{"node-a", "node-b"}[i])
		agenttest.Start(t, agentConfig(t, n.dirs[i], url, filepath.Base(n.dirs[i])))
	}
	n.clients[0] = openClient(t, n.dirs[0], whycache.WithApplyWait())
	n.clients[1] = openClient(t, n.dirs[1])
	return n
}

// sync waits until both nodes have applied id.
func (n *twoNodes) sync(t *testing.T, id uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for _, c := range n.clients {
		if err := c.WaitFor(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOriginalBehaviours checks, on every backend and on both nodes, the
// behaviours of the original whycache.
func TestOriginalBehaviours(t *testing.T) {
	forEachBackend(t, func(t *testing.T, url string) {
		n := newTwoNodes(t, url)
		ctx := t.Context()
		w := n.clients[0]
		tests := []struct {
			name string
			run  func(t *testing.T)
		}{
			{"get of a missing key", func(t *testing.T) {
				for _, c := range n.clients {
					if _, err := c.Get([]byte("missing")); !errors.Is(err, whycache.ErrNotFound) {
						t.Errorf("Get(missing) = %v, want ErrNotFound", err)
					}
				}
			}},
			{"get after set", func(t *testing.T) {
				id, err := w.Set(ctx, []byte("k1"), []byte("v1"))
				if err != nil {
					t.Fatal(err)
				}
				n.sync(t, id)
				for i, c := range n.clients {
					if v, err := c.Get([]byte("k1")); err != nil || string(v) != "v1" {
						t.Errorf("node %d: Get(k1) = %q, %v", i, v, err)
					}
					var viewed string
					if err := c.View([]byte("k1"), func(v []byte) { viewed = string(v) }); err != nil || viewed != "v1" {
						t.Errorf("node %d: View(k1) = %q, %v", i, viewed, err)
					}
				}
			}},
			{"get after delete", func(t *testing.T) {
				id, err := w.Delete(ctx, []byte("k1"))
				if err != nil {
					t.Fatal(err)
				}
				n.sync(t, id)
				for i, c := range n.clients {
					if _, err := c.Get([]byte("k1")); !errors.Is(err, whycache.ErrNotFound) {
						t.Errorf("node %d: Get(k1) after delete = %v, want ErrNotFound", i, err)
					}
				}
			}},
			{"iteration", func(t *testing.T) {
				id, err := w.SetMulti(ctx, map[string][]byte{"it/a": []byte("1"), "it/b": []byte("2"), "it/c": []byte("3")})
				if err != nil {
					t.Fatal(err)
				}
				n.sync(t, id)
				for i, c := range n.clients {
					var keys, values []string
					for k := range c.Keys() {
						keys = append(keys, string(k))
					}
					for v := range c.Values() {
						values = append(values, string(v))
					}
					items := map[string]string{}
					for k, v := range c.Items() {
						items[string(k)] = string(v)
					}
					var prefixed []string
					for k, v := range c.Prefix([]byte("it/")) {
						prefixed = append(prefixed, string(k)+"="+string(v))
					}
					slices.Sort(keys)
					slices.Sort(values)
					if strings.Join(keys, ",") != "it/a,it/b,it/c" || strings.Join(values, ",") != "1,2,3" || len(items) != 3 || c.Len() != 3 {
						t.Errorf("node %d: keys %v values %v items %v len %d", i, keys, values, items, c.Len())
					}
					if strings.Join(prefixed, ",") != "it/a=1,it/b=2,it/c=3" {
						t.Errorf("node %d: Prefix(it/) = %v", i, prefixed)
					}
				}
			}},
			{"delete_multi with a missing key deletes the others", func(t *testing.T) {
				id, err := w.DeleteMulti(ctx, [][]byte{[]byte("it/a"), []byte("never-set"), []byte("it/c")})
				if err != nil {
					t.Fatal(err)
				}
				n.sync(t, id)
				for i, c := range n.clients {
					for _, k := range []string{"it/a", "it/c"} {
						if _, err := c.Get([]byte(k)); !errors.Is(err, whycache.ErrNotFound) {
							t.Errorf("node %d: %s still there (%v)", i, k, err)
						}
					}
					if v, err := c.Get([]byte("it/b")); err != nil || string(v) != "2" {
						t.Errorf("node %d: it/b = %q, %v", i, v, err)
					}
				}
			}},
			{"an oversized set_multi is rejected whole", func(t *testing.T) {
				direct := openClient(t, n.dirs[1], whycache.WithStore(openStore(t, url)))
				for name, c := range map[string]*whycache.Client{"through the agent": w, "straight to the store": direct} {
					_, err := c.SetMulti(ctx, map[string][]byte{
						"big/ok":  []byte("small"),
						"big/big": make([]byte, 16<<20+1),
					})
					if !errors.Is(err, whycache.ErrTooLarge) {
						t.Fatalf("%s: SetMulti with a 16 MiB+1 value = %v, want ErrTooLarge", name, err)
					}
				}
				// A later write is applied, and nothing of the rejected one.
				id, err := w.Set(ctx, []byte("after"), []byte("x"))
				if err != nil {
					t.Fatal(err)
				}
				n.sync(t, id)
				for i, c := range n.clients {
					if _, err := c.Get([]byte("big/ok")); !errors.Is(err, whycache.ErrNotFound) {
						t.Errorf("node %d: part of the rejected set_multi was applied (%v)", i, err)
					}
				}
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, tt.run)
		}
	})
}

// TestRecreatedCacheFileIsRebuilt deletes a node's cache file while its
// agent is stopped; the restarted agent rebuilds it from the log.
func TestRecreatedCacheFileIsRebuilt(t *testing.T) {
	forEachBackend(t, func(t *testing.T, url string) {
		dir := filepath.Join(t.TempDir(), "node")
		cfg := agentConfig(t, dir, url, "node")
		a := agenttest.Start(t, cfg)
		c := openClient(t, dir, whycache.WithApplyWait())
		var last uint64
		for _, k := range []string{"a", "b", "c"} {
			id, err := c.Set(t.Context(), []byte(k), []byte("v-"+k))
			if err != nil {
				t.Fatal(err)
			}
			last = id
		}
		if _, err := c.Delete(t.Context(), []byte("b")); err != nil {
			t.Fatal(err)
		}
		c.Close()
		a.Stop(t)
		if err := os.Remove(filepath.Join(dir, agentapi.CacheFileName)); err != nil {
			t.Fatal(err)
		}
		agenttest.Start(t, cfg)
		c2 := openClient(t, dir)
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		if err := c2.WaitFor(ctx, last+1); err != nil {
			t.Fatal(err)
		}
		got := fileState(t, dir)
		if len(got) != 2 || got["a"] != "v-a" || got["c"] != "v-c" {
			t.Fatalf("rebuilt file = %v, want a and c", got)
		}
	})
}

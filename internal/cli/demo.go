package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"

	"github.com/whycache/whycache"
	nodeagent "github.com/whycache/whycache/node-agent"
	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/backends"
)

func newDemoCommand(g *globals) *cobra.Command {
	var root string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run whycache locally: two node agents sharing one log in a local directory",
		Long: `demo shows whycache working on this machine, with no cluster, database or
cloud account: it creates a log in a local directory, starts two node agents
(two "nodes", each with its own instance directory and cache file), writes
through one node and reads on the other, then prints the commands to run the
same by hand.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if root == "" {
				dir, err := os.MkdirTemp("", "whycache-demo-")
				if err != nil {
					return err
				}
				root = dir
				defer os.RemoveAll(dir)
			}
			return runDemo(cmd.Context(), g, root)
		},
	}
	cmd.Flags().StringVar(&root, "root", "", "directory for the demo's log and nodes, kept afterwards (default: a temporary one, removed afterwards)")
	return cmd
}

// runDemo is the scripted demo.
func runDemo(ctx context.Context, g *globals, root string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// A store URL names a directory only by an absolute path.
	root, err := filepath.Abs(root)
	if err != nil {
		return fmt.Errorf("demo root: %w", err)
	}
	logDir := filepath.Join(root, "log")
	say := func(format string, args ...any) { fmt.Fprintf(g.out, format+"\n", args...) }
	say("whycache demo in %s", root)
	say("  log store: local directory %s", logDir)

	nodes := []string{"node-a", "node-b"}
	errc := make(chan error, len(nodes))
	agents := make([]*nodeagent.Agent, len(nodes))
	for i, name := range nodes {
		a, err := nodeagent.New(nodeagent.Config{
			Dir:       filepath.Join(root, name),
			NodeName:  name,
			CreateLog: true,
			OpenStore: func(ctx context.Context, opts logstore.Options) (logstore.Store, error) {
				return backends.Open(ctx, logDir, opts)
			},
			HeartbeatInterval: time.Second,
			Logger:            logr.Discard(),
		})
		if err != nil {
			return err
		}
		agents[i] = a
		go func() { errc <- a.Run(ctx) }()
		select {
		case <-a.Started():
		case err := <-errc:
			return fmt.Errorf("start agent %s: %w", name, err)
		}
		say("  agent %s: cache file %s, write socket %s", name, a.CachePath(), a.SocketPath())
	}
	stop := func() error {
		cancel()
		var errs []error
		for range nodes {
			errs = append(errs, <-errc)
		}
		return errors.Join(errs...)
	}

	if err := demoSteps(ctx, say, root, nodes); err != nil {
		stop()
		return err
	}
	if err := stop(); err != nil {
		return err
	}
	say("\nBoth agents stopped cleanly. To run the same by hand, in four terminals:")
	say("  go run ./cmd/whycache agent --dir whycache-local/node-a --store whycache-local/log --create-log --health-addr 127.0.0.1:8081")
	say("  go run ./cmd/whycache agent --dir whycache-local/node-b --store whycache-local/log --health-addr 127.0.0.1:8082")
	say("  go run ./cmd/whycache --dir whycache-local/node-a set --wait greeting hello")
	say("  go run ./cmd/whycache --dir whycache-local/node-b get greeting")
	say("(curl 127.0.0.1:8081/metrics shows the agent's metrics; `whycache demo --root DIR` keeps the demo's files)")
	return nil
}

// demoSteps writes through node-a and reads on node-b.
func demoSteps(ctx context.Context, say func(string, ...any), root string, nodes []string) error {
	a, err := whycache.Open(filepath.Join(root, nodes[0]))
	if err != nil {
		return err
	}
	defer a.Close()
	b, err := whycache.Open(filepath.Join(root, nodes[1]))
	if err != nil {
		return err
	}
	defer b.Close()

	start := time.Now()
	id, err := a.SetMulti(ctx, map[string][]byte{
		"flags/dark-mode": []byte("on"), "flags/beta": []byte("off"), "routes/eu": []byte("10.0.0.7"),
	})
	if err != nil {
		return err
	}
	say("\nset_multi through %s: 3 keys, update id %d (durable in the log)", nodes[0], id)
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := b.WaitFor(wctx, id); err != nil {
		return err
	}
	say("%s applied update %d after %s", nodes[1], id, time.Since(start).Round(time.Microsecond))
	v, err := b.Get([]byte("flags/dark-mode"))
	if err != nil {
		return err
	}
	say("get flags/dark-mode on %s: %q", nodes[1], v)
	say("keys with prefix flags/ on %s:", nodes[1])
	for k, v := range b.Prefix([]byte("flags/")) {
		say("  %s = %s", k, v)
	}
	id, err = a.DeleteMulti(ctx, [][]byte{[]byte("flags/beta"), []byte("no-such-key")})
	if err != nil {
		return err
	}
	if err := b.WaitFor(wctx, id); err != nil {
		return err
	}
	_, err = b.Get([]byte("flags/beta"))
	say("delete_multi [flags/beta, no-such-key] through %s, update id %d; get flags/beta on %s: %v",
		nodes[0], id, nodes[1], err)
	if !errors.Is(err, whycache.ErrNotFound) {
		return fmt.Errorf("flags/beta still on %s after its delete", nodes[1])
	}
	say("%d keys on %s, applied update id %d", b.Len(), nodes[1], b.UpdateID())
	return nil
}

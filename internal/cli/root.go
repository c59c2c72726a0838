// Package cli implements the whycache command-line tool and the node agent's
// command: flag parsing (with environment-variable equivalents) and output.
// The logic lives in the packages it calls.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/whycache/whycache"
	"github.com/whycache/whycache/internal/version"
	"github.com/whycache/whycache/pkg/agentapi"
	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/backends"
)

// EnvPrefix prefixes the environment variable of every flag: --log-name can
// also be given as WHYCACHE_LOG_NAME. A flag on the command line wins.
const EnvPrefix = agentapi.EnvPrefix

// globals are the flags every command shares.
type globals struct {
	dir     string
	store   string
	logName string
	out     io.Writer
	errOut  io.Writer
}

// NewRootCommand returns the `whycache` command with all its subcommands.
func NewRootCommand() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "whycache",
		Short: "Shared, memory-mapped key-value datasets with guaranteed writes",
		Long: `whycache keeps a key-value dataset in a memory-mapped file on every node,
up to date from a log of changes in an external store. This tool reads and
writes an instance, inspects and verifies cache files, reads the log, rewrites
its history, and runs the node agent.`,
		Version:       version.Get(),
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			g.out, g.errOut = cmd.OutOrStdout(), cmd.ErrOrStderr()
			return bindEnv(cmd.Flags())
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.dir, "dir", "", "instance directory (holds "+agentapi.CacheFileName+" and the agent's "+agentapi.SocketName+")")
	pf.StringVar(&g.store, "store", "", "log store URL: a directory path, mysql://user:pass@host:port/db or postgres://... (keep passwords in $WHYCACHE_STORE)")
	pf.StringVar(&g.logName, "log-name", logstore.DefaultName, "name of the log inside its store")
	root.AddCommand(
		newGetCommand(g), newSetCommand(g), newDelCommand(g), newKeysCommand(g), newDumpCommand(g),
		newInspectCommand(g), newVerifyCommand(g), newLogCommand(g), newRewriteCommand(g),
		NewAgentCommand(), newDemoCommand(g), newSnapshotCommand(g), newBootstrapCommand(g), newWaitReadyCommand(g),
	)
	return root
}

// Main runs a command and exits with its status: 0, or 1 after printing the
// error.
func Main(cmd *cobra.Command) {
	ctx, stop := signalContext()
	defer stop()
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, errorLine(cmd.Name(), err))
		stop()
		os.Exit(1)
	}
}

// errorLine is how a command reports its error: its name, then the
// message with the package prefixes that wrapping repeats ("whycache:
// write: whycache: writes unavailable") said once.
func errorLine(name string, err error) string {
	msg := err.Error()
	for _, p := range []string{name + ": ", "whycache: "} {
		// Only where a prefix begins a message of the chain: at the start,
		// or after the ": " that wrapping puts.
		msg = strings.TrimPrefix(strings.ReplaceAll(msg, ": "+p, ": "), p)
	}
	return name + ": " + msg
}

// bindEnv sets every flag that was not given on the command line from its
// environment variable, if set.
func bindEnv(fs *pflag.FlagSet) error {
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed {
			return
		}
		env := agentapi.EnvName(f.Name)
		if v, ok := os.LookupEnv(env); ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("$%s: %w", env, err))
			}
		}
	})
	return errors.Join(errs...)
}

// cachePath returns the cache file of the instance directory.
func (g *globals) cachePath() (string, error) {
	if g.dir == "" {
		return "", errors.New("--dir (or $WHYCACHE_DIR) is required")
	}
	return filepath.Join(g.dir, agentapi.CacheFileName), nil
}

// openStore opens the log store named by --store.
func (g *globals) openStore(ctx context.Context, create bool) (logstore.Store, error) {
	if g.store == "" {
		return nil, errors.New("--store (or $WHYCACHE_STORE) is required")
	}
	s, err := backends.Open(ctx, g.store, logstore.Options{Name: g.logName, Create: create})
	if err != nil {
		// The store's errors name it (redacted) already.
		return nil, fmt.Errorf("open log store: %w", err)
	}
	return s, nil
}

// writeTarget is what the write commands write through: a Client, or a
// Writer where there is no cache file.
type writeTarget interface {
	Set(ctx context.Context, key, value []byte) (uint64, error)
	DeleteMulti(ctx context.Context, keys [][]byte) (uint64, error)
}

// writeTo is an opened writeTarget; client is nil when there is no --dir.
type writeTo struct {
	w      writeTarget
	client *whycache.Client
	close  func()
}

// openWriter opens the instance in --dir for writes: through the agent's
// socket, or to --store when it is given. With --store and no --dir (a
// machine with no cache file) it writes to the store alone; wait, which
// needs this node's file, is refused then, before anything is written.
func (g *globals) openWriter(ctx context.Context, wait bool) (writeTo, error) {
	if g.dir == "" && g.store == "" {
		return writeTo{}, errors.New("--dir or --store (or $WHYCACHE_DIR, $WHYCACHE_STORE) is required")
	}
	if g.dir == "" && wait {
		return writeTo{}, errors.New("--wait needs --dir (the node whose cache file to wait for)")
	}
	var opts []whycache.Option
	closeStore := func() {}
	var s logstore.Store
	if g.store != "" {
		var err error
		if s, err = g.openStore(ctx, false); err != nil {
			return writeTo{}, err
		}
		opts = append(opts, whycache.WithStore(s))
		closeStore = func() { s.Close() }
	}
	if g.dir == "" {
		w, err := whycache.NewWriter(s)
		if err != nil {
			closeStore()
			return writeTo{}, err
		}
		return writeTo{w: w, close: func() { w.Close(); closeStore() }}, nil
	}
	c, err := whycache.Open(g.dir, opts...)
	if err != nil {
		closeStore()
		return writeTo{}, err
	}
	return writeTo{w: c, client: c, close: func() { c.Close(); closeStore() }}, nil
}

// withStore returns a RunE that opens the log store named by --store, runs
// fn with it, and closes it.
func (g *globals) withStore(fn func(ctx context.Context, store logstore.Store, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		store, err := g.openStore(cmd.Context(), false)
		if err != nil {
			return err
		}
		defer store.Close()
		return fn(cmd.Context(), store, args)
	}
}

// withReader returns a RunE that opens the instance in --dir for reading,
// runs fn with it, and closes it.
func (g *globals) withReader(fn func(c *whycache.Client, args []string) error) func(*cobra.Command, []string) error {
	return func(_ *cobra.Command, args []string) error {
		if g.dir == "" {
			return errors.New("--dir (or $WHYCACHE_DIR) is required: the instance directory that holds the cache file")
		}
		c, err := whycache.Open(g.dir)
		if err != nil {
			return err
		}
		defer c.Close()
		return fn(c, args)
	}
}

package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/whycache/whycache/internal/version"
	nodeagent "github.com/whycache/whycache/node-agent"
	"github.com/whycache/whycache/pkg/agentapi"
	"github.com/whycache/whycache/pkg/cachefile"
	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/snapshot"
	"github.com/whycache/whycache/pkg/snapshot/maker"
)

// Environment variables with explicit S3 credentials (from a Kubernetes
// Secret, say). They are read from the environment only, never from flags,
// so that they stay off command lines; without them the AWS SDK's default
// chain applies (AWS_ACCESS_KEY_ID..., shared config, IRSA, instance
// profile).
const (
	EnvS3AccessKeyID     = "WHYCACHE_S3_ACCESS_KEY_ID"
	EnvS3SecretAccessKey = "WHYCACHE_S3_SECRET_ACCESS_KEY"
	EnvS3SessionToken    = "WHYCACHE_S3_SESSION_TOKEN"
)

// snapshotFlags are the flags of every command that reads or writes
// snapshots.
type snapshotFlags struct {
	url          string
	partSize     int64
	downloadPart int64
	concurrency  int
}

func (f *snapshotFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.url, agentapi.FlagSnapshotURL, "", "where snapshots live: s3://bucket/prefix?region=...&endpoint=...&path-style=true, or a directory")
	fs.Int64Var(&f.partSize, "snapshot-part-size", snapshot.DefaultPartSize, "bytes per multipart upload part")
	fs.Int64Var(&f.downloadPart, "snapshot-download-part-size", snapshot.DefaultDownloadPartSize,
		"bytes per ranged GET of a download (small parts, fetched in order, let the checks follow the download)")
	fs.IntVar(&f.concurrency, "snapshot-concurrency", snapshot.DefaultConcurrency, "parts in flight at once, per process")
}

// open returns the layout the flags name.
func (f *snapshotFlags) open(ctx context.Context) (*snapshot.Layout, error) {
	if f.url == "" {
		return nil, errors.New("--snapshot-url (or $WHYCACHE_SNAPSHOT_URL) is required")
	}
	return snapshot.Open(ctx, f.url, snapshot.S3Options{
		Credentials: snapshot.Credentials{AccessKeyID: os.Getenv(EnvS3AccessKeyID),
			SecretAccessKey: os.Getenv(EnvS3SecretAccessKey), SessionToken: os.Getenv(EnvS3SessionToken)},
		PartSize: f.partSize, Concurrency: f.concurrency,
	})
}

func (f *snapshotFlags) download() snapshot.DownloadOptions {
	return snapshot.DownloadOptions{PartSize: f.downloadPart, Concurrency: f.concurrency}
}

func newSnapshotCommand(g *globals) *cobra.Command {
	var sf snapshotFlags
	o := maker.Options{}
	var logFormat string
	var pinned []uint
	cmd := &cobra.Command{
		Use:   "snapshot",
		Short: "Write a snapshot of the log's state to S3 (or a directory)",
		Long: `snapshot starts from the newest snapshot of the log in --snapshot-url (or
the sealed cache file --from), applies the log's tail to it, and uploads a
sealed, compact cache file, its manifest and then the "latest" pointer. It
replays the whole log only when there is no usable snapshot. With --keep it
then deletes all but the newest N snapshots. It ends by printing one result
line ("` + agentapi.ResultPrefix + `{...}"), also written to
` + agentapi.TerminationMessagePath + ` when that file exists (in a container).

S3 credentials come from $` + EnvS3AccessKeyID + ` and $` + EnvS3SecretAccessKey + `,
or else the AWS SDK's default chain.`,
		Args: cobra.NoArgs,
		RunE: g.withStore(func(ctx context.Context, store logstore.Store, _ []string) error {
			log, err := newLogger(logFormat, 0)
			if err != nil {
				return err
			}
			if o.Layout, err = sf.open(ctx); err != nil {
				return err
			}
			o.Store, o.Log, o.ToolVersion, o.Download = store, log, version.Get(), sf.download()
			for _, p := range pinned {
				o.Pinned = append(o.Pinned, uint64(p))
			}
			res, err := maker.Create(ctx, o)
			if err != nil {
				return err
			}
			return emitResult(g.out, res, agentapi.TerminationMessagePath)
		}),
	}
	fs := cmd.Flags()
	sf.register(fs)
	fs.StringVar(&o.From, "from", "", "start from this sealed cache file instead of the newest snapshot")
	fs.IntVar(&o.Keep, agentapi.FlagSnapshotKeep, 0, "keep the newest N snapshots and delete older ones (0: keep all)")
	fs.UintSliceVar(&pinned, "pin", nil, "update ids of snapshots to keep whatever --keep says")
	fs.StringVar(&o.TempDir, "temp-dir", "", "directory for the working files (default: the system's)")
	fs.StringVar(&logFormat, "log-format", "console", "log format (on stderr): json or console")
	return cmd
}

// emitResult prints the result line and writes it to the termination
// message file when that file exists. Kubernetes creates it in every
// container; its directory, /dev, exists everywhere, so testing the
// directory would make a run on a workstation create /dev/termination-log.
func emitResult(out io.Writer, v any, terminationPath string) error {
	line, err := agentapi.FormatResult(v)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, line)
	if fi, err := os.Stat(terminationPath); err == nil && !fi.IsDir() {
		if err := os.WriteFile(terminationPath, []byte(line+"\n"), 0o644); err != nil {
			return fmt.Errorf("write termination message: %w", err)
		}
	}
	return nil
}

func newBootstrapCommand(g *globals) *cobra.Command {
	var sf snapshotFlags
	var logFormat string
	cmd := &cobra.Command{
		Use:   "bootstrap",
		Short: "Install the newest usable snapshot as the cache file in --dir (the agent must be stopped)",
		Long: `bootstrap does by hand what the agent does when it starts with a missing,
corrupt or too old cache file and --snapshot-url: it downloads the newest
usable snapshot of the log (verifying its checksum and structure, falling
back to older ones), installs it as a new generation of the cache file in
--dir, and prints the applied id. With no usable snapshot it replays the log
when the log's horizon is 0, and fails otherwise. The agent then tails the
log from the installed id.`,
		Args: cobra.NoArgs,
		RunE: g.withStore(func(ctx context.Context, store logstore.Store, _ []string) error {
			path, err := g.cachePath()
			if err != nil {
				return err
			}
			log, err := newLogger(logFormat, 0)
			if err != nil {
				return err
			}
			layout, err := sf.open(ctx)
			if err != nil {
				return err
			}
			b, err := nodeagent.NewSnapshotBootstrapper(nodeagent.SnapshotConfig{Layout: layout, Download: sf.download(), Logger: log})
			if err != nil {
				return err
			}
			if err := os.MkdirAll(g.dir, 0o755); err != nil {
				return err
			}
			w, err := cachefile.OpenWriter(ctx, path, store.ID(), cachefile.Options{})
			if err != nil {
				return err
			}
			defer w.Close()
			if err := b.Install(ctx, store, w, g.dir, cachefile.Options{}); err != nil {
				return err
			}
			fmt.Fprintf(g.out, "applied\t%d\n", w.UpdateID())
			return nil
		}),
	}
	sf.register(cmd.Flags())
	cmd.Flags().StringVar(&logFormat, "log-format", "console", "log format (on stderr): json or console")
	return cmd
}

package cli

import (
	"encoding/hex"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/whycache/whycache/pkg/cachefile"
	"github.com/whycache/whycache/pkg/logstore"
)

// fileFlag adds --file, which names a cache file directly instead of --dir.
func fileFlag(cmd *cobra.Command, file *string) {
	cmd.Flags().StringVar(file, "file", "", "cache file to read (default: the one in --dir)")
}

func (g *globals) fileOrDir(file string) (string, error) {
	if file != "" {
		return file, nil
	}
	return g.cachePath()
}

func newInspectCommand(g *globals) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "inspect",
		Short: "Print a cache file's header, sizes, generation, applied id and garbage, as JSON",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := g.fileOrDir(file)
			if err != nil {
				return err
			}
			info, err := cachefile.Inspect(path)
			if err != nil {
				return err
			}
			return writeJSON(g.out, newInfoView(info))
		},
	}
	fileFlag(cmd, &file)
	return cmd
}

func newVerifyCommand(g *globals) *cobra.Command {
	var file string
	var replay bool
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check a cache file's structure and checksums, and optionally its contents against the log",
		Long: `verify checks a cache file's header, index, records and checksums (a sealed
file's whole-file checksum too) and exits non-zero when anything is wrong.

With --replay it also replays the log (--store) from the start and checks
that the file holds the same keys and values. On a live node the file moves
while it is read: verify reads the file's applied id A, then the file, then
the log's latest id L, and requires every key that no update in (A, L]
touched to equal the replay through A, and every other key to hold a value
the log gave it in (A, L]. When the file was replaced or the history
rewritten under it on every try, it says that the node was not quiet
enough, which is not a mismatch. A history rewrite that went past the
file's applied id can make the replay differ; run it on a node that has
caught up.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := g.fileOrDir(file)
			if err != nil {
				return err
			}
			if _, err := cachefile.Verify(cmd.Context(), path); err != nil {
				return fmt.Errorf("verify %s: %w", path, err)
			}
			fmt.Fprintf(g.out, "%s: structure and checksums ok\n", path)
			if !replay {
				return nil
			}
			n, err := g.verifyReplay(cmd.Context(), path)
			if err != nil {
				return fmt.Errorf("verify %s against the log: %w", path, err)
			}
			fmt.Fprintf(g.out, "%s: equal to the log's replay through update %d (%d keys)", path, n.through, n.keys)
			if n.moved > 0 {
				fmt.Fprintf(g.out, "; %d keys changed while it was read (updates %d to %d), each to a value the log gave it then",
					n.moved, n.through+1, n.latest)
			}
			fmt.Fprintln(g.out)
			return nil
		},
	}
	fileFlag(cmd, &file)
	cmd.Flags().BoolVar(&replay, "replay", false, "also compare the contents with a full replay of the log (needs --store)")
	return cmd
}

// infoView is a cache file's Info as inspect prints it: identities as UUIDs
// (as the log store prints its id) and the checksum in hex, not as lists of
// decimal bytes.
type infoView struct {
	cachefile.Info
	LogID    string
	BootID   string
	Checksum string `json:",omitempty"`
}

func newInfoView(info cachefile.Info) infoView {
	v := infoView{Info: info, LogID: logstore.LogID(info.LogID).String(), BootID: logstore.LogID(info.BootID).String()}
	if info.Checksum != ([32]byte{}) {
		v.Checksum = hex.EncodeToString(info.Checksum[:])
	}
	return v
}

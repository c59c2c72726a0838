package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/whycache/whycache"
)

// writeFlags are the flags of the commands that write.
type writeFlags struct {
	wait        bool
	waitTimeout time.Duration
	args        argFormat
}

func (w *writeFlags) add(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&w.wait, "wait", false, "return only once this node's cache file holds the update")
	cmd.Flags().DurationVar(&w.waitTimeout, "wait-timeout", time.Minute, "with --wait, how long to wait for this node's cache file (the update is durable either way)")
	w.args.add(cmd)
}

// finish waits for the update when asked, then prints its id.
func (w *writeFlags) finish(ctx context.Context, g *globals, c *whycache.Client, id uint64) error {
	if w.wait && c != nil {
		ctx, cancel := context.WithTimeout(ctx, w.waitTimeout)
		defer cancel()
		if err := c.WaitFor(ctx, id); err != nil {
			return fmt.Errorf("update %d is durable, but this node's cache file did not apply it within --wait-timeout %s: %w", id, w.waitTimeout, err)
		}
	}
	_, err := fmt.Fprintln(g.out, id)
	return err
}

func newSetCommand(g *globals) *cobra.Command {
	var wf writeFlags
	cmd := &cobra.Command{
		Use:   "set KEY VALUE|-",
		Short: "Set a key (VALUE - reads the value from stdin) and print the update id",
		Long: `set appends an update that sets KEY and prints its id once it is durable.
It writes through the node agent's socket in --dir, or straight to the log
with --store (with --store alone, on a machine with no cache file). With
VALUE "-" the value is read from standard input. With --hex or --base64, KEY
and VALUE are given in that encoding (for binary keys and values).`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := wf.args.decode("KEY", args[0])
			if err != nil {
				return err
			}
			var value []byte
			if args[1] == "-" {
				if value, err = io.ReadAll(os.Stdin); err != nil {
					return fmt.Errorf("read value from stdin: %w", err)
				}
			} else if value, err = wf.args.decode("VALUE", args[1]); err != nil {
				return err
			}
			t, err := g.openWriter(cmd.Context(), wf.wait)
			if err != nil {
				return err
			}
			defer t.close()
			id, err := t.w.Set(cmd.Context(), key, value)
			if err != nil {
				return err
			}
			return wf.finish(cmd.Context(), g, t.client, id)
		},
	}
	wf.add(cmd)
	return cmd
}

func newDelCommand(g *globals) *cobra.Command {
	var wf writeFlags
	cmd := &cobra.Command{
		Use:     "del KEY...",
		Aliases: []string{"delete"},
		Short:   "Delete keys in one update and print its id (missing keys are not an error)",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			keys, err := wf.args.decodeAll("KEY", args)
			if err != nil {
				return err
			}
			t, err := g.openWriter(cmd.Context(), wf.wait)
			if err != nil {
				return err
			}
			defer t.close()
			id, err := t.w.DeleteMulti(cmd.Context(), keys)
			if err != nil {
				return err
			}
			return wf.finish(cmd.Context(), g, t.client, id)
		},
	}
	wf.add(cmd)
	return cmd
}

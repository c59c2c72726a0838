package cli

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/whycache/whycache"
)

// writeFlags are the flags of the commands that write.
type writeFlags struct {
	wait bool
}

func (w *writeFlags) add(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&w.wait, "wait", false, "return only once this node's cache file holds the update")
}

// finish waits for the update when asked, then prints its id.
func (w *writeFlags) finish(ctx context.Context, g *globals, c *whycache.Client, id uint64) error {
	if w.wait && c != nil {
		if err := c.WaitFor(ctx, id); err != nil {
			return err
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
VALUE "-" the value is read from standard input.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			value := []byte(args[1])
			if args[1] == "-" {
				var err error
				if value, err = io.ReadAll(os.Stdin); err != nil {
					return fmt.Errorf("read value from stdin: %w", err)
				}
			}
			t, err := g.openWriter(cmd.Context(), wf.wait)
			if err != nil {
				return err
			}
			defer t.close()
			id, err := t.w.Set(cmd.Context(), []byte(args[0]), value)
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
			keys := make([][]byte, len(args))
			for i, a := range args {
				keys[i] = []byte(a)
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

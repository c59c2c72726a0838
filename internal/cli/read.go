package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/whycache/whycache"
)

func newGetCommand(g *globals) *cobra.Command {
	var raw bool
	var af argFormat
	cmd := &cobra.Command{
		Use:   "get KEY",
		Short: "Print a key's value from this node's cache file",
		Args:  cobra.ExactArgs(1),
		RunE: g.withReader(func(c *whycache.Client, args []string) error {
			key, err := af.decode("KEY", args[0])
			if err != nil {
				return err
			}
			v, err := c.Get(key)
			if err != nil {
				return fmt.Errorf("get %q: %w", args[0], err)
			}
			if !raw {
				v = append(v, '\n')
			}
			_, err = g.out.Write(v)
			return err
		}),
	}
	cmd.Flags().BoolVar(&raw, "raw", false, "print the value's bytes only, without a trailing newline")
	af.add(cmd)
	return cmd
}

func newKeysCommand(g *globals) *cobra.Command {
	var prefix string
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "List the keys in this node's cache file, sorted (quoted when not printable)",
		Args:  cobra.NoArgs,
		RunE: g.withReader(func(c *whycache.Client, _ []string) error {
			for k := range c.Prefix([]byte(prefix)) {
				if _, err := fmt.Fprintln(g.out, printable(k)); err != nil {
					return err
				}
			}
			return nil
		}),
	}
	cmd.Flags().StringVar(&prefix, "prefix", "", "list only the keys that start with this prefix")
	return cmd
}

func newDumpCommand(g *globals) *cobra.Command {
	var prefix, format string
	cmd := &cobra.Command{
		Use:   "dump",
		Short: "Print every key and value in this node's cache file, sorted by key",
		Long: `Print every key and value, sorted by key. --output text prints one
"key<TAB>value" line per key (quoted when not printable); --output json prints
one JSON object per line, {"key": ..., "value": ...}, with "key_base64" and
"value_base64" instead for bytes that are not UTF-8.`,
		Args: cobra.NoArgs,
		PreRunE: func(*cobra.Command, []string) error {
			if format != "text" && format != "json" {
				return fmt.Errorf("--output must be text or json, not %q", format)
			}
			return nil
		},
		RunE: g.withReader(func(c *whycache.Client, _ []string) error {
			enc := json.NewEncoder(g.out)
			var err error
			for k, v := range c.Prefix([]byte(prefix)) {
				if format == "json" {
					err = enc.Encode(jsonItem(k, v))
				} else {
					_, err = fmt.Fprintf(g.out, "%s\t%s\n", printable(k), printable(v))
				}
				if err != nil {
					return err
				}
			}
			return nil
		}),
	}
	cmd.Flags().StringVar(&prefix, "prefix", "", "dump only the keys that start with this prefix")
	cmd.Flags().StringVarP(&format, "output", "o", "text", "output format: text or json")
	return cmd
}

// printable returns b as is when it is non-empty, printable UTF-8 (no
// tabs, newlines, quotes or backslashes), and Go-quoted otherwise, so that
// every line of output stands for exactly one key.
func printable(b []byte) string {
	if len(b) > 0 && utf8.Valid(b) && !bytes.ContainsAny(b, "\"\\") {
		plain := true
		for _, r := range string(b) {
			if !strconv.IsPrint(r) {
				plain = false
				break
			}
		}
		if plain {
			return string(b)
		}
	}
	return strconv.Quote(string(b))
}

// jsonItem is one line of `dump --output json`.
func jsonItem(k, v []byte) map[string]any {
	m := make(map[string]any, 2)
	put := func(name string, b []byte) {
		if utf8.Valid(b) {
			m[name] = string(b)
		} else {
			m[name+"_base64"] = b
		}
	}
	put("key", k)
	put("value", v)
	return m
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

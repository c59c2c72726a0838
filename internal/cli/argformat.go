package cli

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"

	"github.com/spf13/cobra"
)

// argFormat is how KEY and VALUE arguments are written: as text, or, for
// binary keys and values (which `keys` prints Go-quoted), in hex or base64.
type argFormat struct {
	hex, base64 bool
}

func (f *argFormat) add(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.hex, "hex", false, "KEY and VALUE arguments are hex (for binary keys and values)")
	cmd.Flags().BoolVar(&f.base64, "base64", false, "KEY and VALUE arguments are base64 (standard, padded)")
	cmd.MarkFlagsMutuallyExclusive("hex", "base64")
}

// decode returns the bytes of an argument; what names it in errors.
func (f argFormat) decode(what, arg string) ([]byte, error) {
	switch {
	case f.hex:
		b, err := hex.DecodeString(arg)
		if err != nil {
			return nil, fmt.Errorf("%s %q is not hex: %w", what, arg, err)
		}
		return b, nil
	case f.base64:
		b, err := base64.StdEncoding.DecodeString(arg)
		if err != nil {
			return nil, fmt.Errorf("%s %q is not base64: %w", what, arg, err)
		}
		return b, nil
	}
	return []byte(arg), nil
}

// decodeAll decodes several arguments.
func (f argFormat) decodeAll(what string, args []string) ([][]byte, error) {
	out := make([][]byte, len(args))
	for i, a := range args {
		b, err := f.decode(what, a)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

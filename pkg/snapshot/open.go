package snapshot

import (
	"context"
	"fmt"
)

// Open parses a snapshot URL and returns the layout it names: an S3 bucket
// (with opts) under the URL's prefix, or a local directory.
func Open(ctx context.Context, rawURL string, opts S3Options) (*Layout, error) {
	loc, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	if loc.Dir != "" {
		d, err := NewDirStore(loc.Dir)
		if err != nil {
			return nil, err
		}
		return NewLayout(d, ""), nil
	}
	s, err := NewS3Store(ctx, loc, opts)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", loc, err)
	}
	return NewLayout(s, loc.Prefix), nil
}

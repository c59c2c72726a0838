package snapshot

import (
	"context"
	"io"
	"strings"
)

// WithKeyPrefix returns a Store that keeps every key of s under prefix (a
// folder of a shared bucket, say); keys in and out are relative to it.
func WithKeyPrefix(s Store, prefix string) Store { return prefixed{s: s, p: prefix} }

type prefixed struct {
	s Store
	p string
}

func (p prefixed) strip(inf ObjectInfo, err error) (ObjectInfo, error) {
	inf.Key = strings.TrimPrefix(inf.Key, p.p)
	return inf, err
}

func (p prefixed) PutFile(ctx context.Context, key, path string, progress func(done, total int64)) (ObjectInfo, error) {
	return p.strip(p.s.PutFile(ctx, p.p+key, path, progress))
}

func (p prefixed) PutBytes(ctx context.Context, key string, data []byte, cond Condition) (ObjectInfo, error) {
	return p.strip(p.s.PutBytes(ctx, p.p+key, data, cond))
}

func (p prefixed) GetBytes(ctx context.Context, key string) ([]byte, ObjectInfo, error) {
	b, inf, err := p.s.GetBytes(ctx, p.p+key)
	inf, err = p.strip(inf, err)
	return b, inf, err
}

func (p prefixed) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	return p.strip(p.s.Stat(ctx, p.p+key))
}

func (p prefixed) ReadRange(ctx context.Context, key, etag string, off, n int64) (io.ReadCloser, error) {
	return p.s.ReadRange(ctx, p.p+key, etag, off, n)
}

func (p prefixed) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	l, err := p.s.List(ctx, p.p+prefix)
	for i := range l {
		l[i].Key = strings.TrimPrefix(l[i].Key, p.p)
	}
	return l, err
}

func (p prefixed) Delete(ctx context.Context, key string) error { return p.s.Delete(ctx, p.p+key) }

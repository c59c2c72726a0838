package sqlkit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/whycache/whycache/pkg/logstore"
)

type scanOp struct {
	pos Pos
	typ logstore.OpType
	key string
}

func set(id uint64, idx int, key string) scanOp {
	return scanOp{Pos{id, idx}, logstore.OpSet, key}
}

func del(id uint64, idx int, key string) scanOp {
	return scanOp{Pos{id, idx}, logstore.OpDelete, key}
}

func TestRunRewrite(t *testing.T) {
	tests := []struct {
		name        string
		ops         []scanOp
		deleteLimit uint64
		want        []Pos
	}{
		{"nothing to do", []scanOp{set(1, 0, "a"), set(2, 0, "b")}, 0, nil},
		{"superseded set", []scanOp{set(1, 0, "a"), set(2, 0, "a")}, 0, []Pos{{1, 0}}},
		{"same key twice in one update", []scanOp{set(1, 0, "a"), set(1, 1, "a")}, 0, []Pos{{1, 0}}},
		{"delete kept above the limit", []scanOp{set(1, 0, "a"), del(2, 0, "a")}, 1, []Pos{{1, 0}}},
		{"delete removed at the limit", []scanOp{set(1, 0, "a"), del(2, 0, "a")}, 2, []Pos{{1, 0}, {2, 0}}},
		{"superseded delete removed", []scanOp{del(1, 0, "a"), set(3, 0, "a")}, 0, []Pos{{1, 0}}},
		{"chain", []scanOp{set(1, 0, "a"), set(2, 0, "b"), set(3, 0, "a"), del(4, 0, "b"), set(5, 0, "a")}, 4,
			[]Pos{{1, 0}, {2, 0}, {3, 0}, {4, 0}}},
	}
	for _, tt := range tests {
		for _, batch := range []int{1, 2, 100} {
			t.Run(fmt.Sprintf("%s/batch=%d", tt.name, batch), func(t *testing.T) {
				scan := func(ctx context.Context, through uint64, fn func(Pos, logstore.OpType, string) error) error {
					for _, op := range tt.ops {
						if err := fn(op.pos, op.typ, KeyIdentity(true, []byte(op.key))); err != nil {
							return err
						}
					}
					return nil
				}
				var got []Pos
				var mu sync.Mutex
				remove := func(ctx context.Context, b []Pos) (int64, error) {
					mu.Lock()
					defer mu.Unlock()
					if len(b) > batch {
						t.Errorf("batch of %d > %d", len(b), batch)
					}
					got = append(got, b...)
					return int64(len(b)), nil
				}
				ex, rm, err := RunRewrite(t.Context(), scan, remove, 100, tt.deleteLimit, batch)
				if err != nil {
					t.Fatal(err)
				}
				sortPos(got)
				if !slices.Equal(got, tt.want) || ex != int64(len(tt.ops)) || rm != int64(len(tt.want)) {
					t.Errorf("removed %v (examined %d, removed %d), want %v", got, ex, rm, tt.want)
				}
			})
		}
	}
}

func TestRunRewriteRemoveError(t *testing.T) {
	boom := errors.New("boom")
	scan := func(ctx context.Context, through uint64, fn func(Pos, logstore.OpType, string) error) error {
		for i := range 1000 {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(Pos{uint64(i + 1), 0}, logstore.OpSet, "k"); err != nil {
				return err
			}
		}
		return nil
	}
	remove := func(ctx context.Context, b []Pos) (int64, error) { return 0, boom }
	if _, _, err := RunRewrite(t.Context(), scan, remove, 1000, 0, 10); !errors.Is(err, boom) {
		t.Fatalf("RunRewrite = %v, want %v", err, boom)
	}
}

func TestKeyIdentity(t *testing.T) {
	if KeyIdentity(true, []byte("x")) == KeyIdentity(false, []byte("x")) {
		t.Error("short and hashed identities collide")
	}
}

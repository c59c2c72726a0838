package cachefile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
)

// TestModelRandom applies random batches, with random compactions, seals,
// replaces, checkpoints and reopens in between, and compares the file with
// an in-memory map after every step, through a Reader that stays open
// throughout (so it also follows every generation). The seed is logged;
// replay a failure with -cachefile.seed.
func TestModelRandom(t *testing.T) {
	seed := testSeed(t)
	rng := newRand(seed)
	steps := 1500
	if testing.Short() {
		steps = 300
	}
	opts := smallOpts()
	opts.MaxValueSize = 20_000
	h := newHarness(t, opts)
	r, err := Open(h.path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	keySpace := 20
	sealed := filepath.Join(t.TempDir(), "sealed")
	for step := range steps {
		if step%100 == 0 {
			keySpace = 20 + rng.IntN(600) // shrink and grow the live set
		}
		what := "apply"
		switch x := rng.IntN(100); {
		case x < 2:
			what = "compact"
			err = h.w.Compact(t.Context())
		case x < 3:
			what = "reopen"
			h.reopen()
		case x < 4:
			what = "seal+replace"
			if _, err = h.w.Seal(t.Context(), sealed); err == nil {
				err = h.w.Replace(t.Context(), sealed)
			}
		case x < 5:
			what = "checkpoint"
			err = h.w.Checkpoint()
		case x < 7:
			what = "bad batch"
			ops := randomOps(rng, keySpace)
			ops = append(ops, Op{Key: nil, Value: []byte("x")})
			if err = h.apply(ops...); errors.Is(err, ErrInvalid) {
				err = nil
			}
		default:
			err = h.apply(randomOps(rng, keySpace)...)
		}
		if err != nil {
			t.Fatalf("step %d (%s): %v", step, what, err)
		}
		if err := compareModel(r, h.model, h.applied); err != nil {
			t.Fatalf("step %d (%s): %v", step, what, err)
		}
		if step%250 == 0 {
			if _, err := Verify(context.Background(), h.path); err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
		}
	}
	st := h.w.Stats()
	t.Logf("%d steps: %+v", steps, st)
}

func randomOps(rng interface {
	IntN(int) int
}, keySpace int) []Op {
	n := rng.IntN(15)
	if rng.IntN(30) == 0 {
		n = 100 + rng.IntN(400)
	}
	ops := make([]Op, n)
	for i := range ops {
		k := []byte(fmt.Sprintf("key/%d", rng.IntN(keySpace)))
		if rng.IntN(4) == 0 {
			ops[i] = Op{Delete: true, Key: k}
			continue
		}
		size := rng.IntN(64)
		if rng.IntN(50) == 0 {
			size = rng.IntN(20_000)
		}
		ops[i] = Op{Key: k, Value: bytes.Repeat([]byte{byte(rng.IntN(256))}, size)}
	}
	return ops
}

package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/whycache/whycache/pkg/logstore"
)

// ReadAll reads every update after after, in pages of maxOps operations, and
// checks that ids are strictly increasing. From 0, it reads as a full
// replay (Store.ReadReplay), which may pass below the horizon between
// pages when the store allows it.
func ReadAll(ctx context.Context, s logstore.Store, after uint64, maxOps int) ([]logstore.Update, error) {
	replay, began := after == 0, uint64(0)
	if replay {
		var err error
		if began, err = s.Horizon(ctx); err != nil {
			return nil, fmt.Errorf("horizon: %w", err)
		}
	}
	var all []logstore.Update
	for {
		var page []logstore.Update
		var err error
		if replay {
			page, err = s.ReadReplay(ctx, after, maxOps, began)
		} else {
			page, err = s.Read(ctx, after, maxOps)
		}
		if err != nil {
			return all, fmt.Errorf("read after %d: %w", after, err)
		}
		if len(page) == 0 {
			return all, nil
		}
		for _, u := range page {
			if u.ID <= after {
				return all, fmt.Errorf("read after %d returned id %d, not above the previous one", after, u.ID)
			}
			after = u.ID
		}
		all = append(all, page...)
	}
}

// CatchUp applies to st every update after after, reading in pages of maxOps
// operations, and returns the id of the last one applied (after itself when
// there was none). It fails, with an error matching
// logstore.ErrBehindHorizon among others, when the store refuses a read.
func CatchUp(ctx context.Context, s logstore.Store, st State, after uint64, maxOps int) (uint64, error) {
	for {
		page, err := s.Read(ctx, after, maxOps)
		if err != nil {
			return after, fmt.Errorf("catch up after %d: %w", after, err)
		}
		if len(page) == 0 {
			return after, nil
		}
		for _, u := range page {
			if u.ID <= after {
				return after, fmt.Errorf("catch up: id %d after %d", u.ID, after)
			}
			st.Apply(u)
			after = u.ID
		}
	}
}

// OpGen generates random updates over a small key space, so that keys are
// overwritten and deleted often.
type OpGen struct {
	// Prefix starts every key.
	Prefix string
	// Keys is the number of distinct keys (at least 1).
	Keys int
	// MaxOps is the largest number of operations in one update (at least 1).
	MaxOps int
	// MaxValue is the largest value, in bytes.
	MaxValue int
	// DeleteRate is the share of operations that are deletes, in [0, 1].
	DeleteRate float64
}

// Ops returns the operations of one random update.
func (g OpGen) Ops(r *rand.Rand) []logstore.Op {
	n := 1 + r.IntN(max(g.MaxOps, 1))
	ops := make([]logstore.Op, n)
	for i := range ops {
		key := fmt.Appendf(nil, "%s%05d", g.Prefix, r.IntN(max(g.Keys, 1)))
		if r.Float64() < g.DeleteRate {
			ops[i] = logstore.Delete(key)
			continue
		}
		v := make([]byte, r.IntN(g.MaxValue+1))
		for j := range v {
			v[j] = byte(r.Uint32())
		}
		ops[i] = logstore.Set(key, v)
	}
	return ops
}

// appendOps appends ops through s, fails t on an error, and returns the
// update as the store should return it.
func appendOps(t testing.TB, s logstore.Store, ops []logstore.Op) logstore.Update {
	t.Helper()
	id, err := s.Append(t.Context(), ops)
	if err != nil {
		t.Fatalf("append %d ops: %v", len(ops), err)
	}
	return logstore.Update{ID: id, Ops: ops}
}

// appendRandom appends n random updates from g and returns them.
func appendRandom(t testing.TB, s logstore.Store, r *rand.Rand, g OpGen, n int) []logstore.Update {
	t.Helper()
	out := make([]logstore.Update, n)
	for i := range out {
		out[i] = appendOps(t, s, g.Ops(r))
		if i > 0 && out[i].ID <= out[i-1].ID {
			t.Fatalf("append returned id %d after %d", out[i].ID, out[i-1].ID)
		}
	}
	return out
}

// mustReadAll reads the whole log through s and fails t on an error.
func mustReadAll(t testing.TB, s logstore.Store) []logstore.Update {
	t.Helper()
	all, err := ReadAll(t.Context(), s, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// SeedEnv names the environment variable that fixes the suite's random
// seed, to replay a failure; a failing test logs the seed it used.
const SeedEnv = "STORETEST_SEED"

// NewRand returns a random source with a random seed (or the one in
// $STORETEST_SEED) and logs the seed, so that a failure can be replayed.
func NewRand(t testing.TB) *rand.Rand {
	seed := rand.Uint64()
	if v := os.Getenv(SeedEnv); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("$%s=%q: %v", SeedEnv, v, err)
		}
		seed = s
	}
	t.Logf("random seed %d (set $%s to replay)", seed, SeedEnv)
	return rand.New(rand.NewPCG(seed, 0x5eed))
}

package cachefile

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// crashKeySpace keeps the crash workload's files small, so that it grows
// and compacts often.
const crashKeySpace = 400

// crashPointNames are the failpoints (see hook) a crash child may die at,
// with how many hits of each to pick the kill from.
var crashPointNames = []struct {
	name string
	hits int
}{
	{"apply:records", 200}, {"apply:half", 200}, {"apply:published", 200}, {"apply:done", 200},
	{"gen:copied", 8}, {"gen:synced", 8}, {"gen:linked", 8}, {"gen:renamed", 8}, {"gen:marked", 8},
	{"seal:written", 4}, {"seal:renamed", 4}, {"replace:built", 2}, {"adopt:unsealed", 2},
	{"checkpoint:synced", 6}, {"close:checkpointed", 2},
}

func init() { children["crash-writer"] = crashWriterChild }

// crashWriterChild applies the workload's batches from where the file is,
// with compactions, seals, replaces, checkpoints and reopens in between,
// printing each applied id, until it is killed (or kills itself at its
// failpoint) or has applied 400 batches.
func crashWriterChild() int {
	path := os.Getenv("CF_PATH")
	seed, _ := strconv.ParseUint(os.Getenv("CF_SEED"), 10, 64)
	opts := smallOpts()
	opts.NoSync = os.Getenv("CF_NOSYNC") == "1"
	if point := os.Getenv("CF_POINT"); point != "" {
		hits, _ := strconv.Atoi(os.Getenv("CF_HIT"))
		hook = func(p string) {
			if p == point {
				if hits--; hits <= 0 {
					_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
					select {}
				}
			}
		}
	}
	out := bufio.NewWriter(os.Stdout)
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	w, err := OpenWriter(context.Background(), path, testLogID, opts)
	if err != nil {
		return fail(err)
	}
	fmt.Fprintln(out, "open")
	out.Flush()
	ctx := context.Background()
	sealed, adopt := path+".sealed", path+".adopt"
	for n := 1; n <= 400; n++ {
		id := w.UpdateID() + 1
		if err := w.Apply(id, genBatch(seed, id, crashKeySpace)); err != nil {
			return fail(err)
		}
		fmt.Fprintf(out, "%d\n", id)
		out.Flush()
		switch {
		case n%17 == 0:
			err = w.Compact(ctx)
		case n%29 == 0:
			_, err = w.Seal(ctx, sealed)
		case n%31 == 0:
			// A sealed copy at the current id has the same content.
			if _, err = w.Seal(ctx, sealed); err == nil {
				err = w.Replace(ctx, sealed)
			}
		case n%37 == 0:
			// Adopted in place: a crash in the middle leaves the caller's
			// copy half-converted, which is why it has its own name.
			if _, err = w.Seal(ctx, adopt); err == nil {
				err = w.Adopt(ctx, adopt)
			}
		case n%13 == 0:
			err = w.Checkpoint()
		case n%43 == 0:
			if err = w.Close(); err == nil {
				w, err = OpenWriter(context.Background(), path, testLogID, opts)
			}
		}
		if err != nil {
			return fail(err)
		}
	}
	if err := w.Close(); err != nil {
		return fail(err)
	}
	return 0
}

// TestCrashWriterKill kills a writer process with SIGKILL at CRASH_POINTS
// points (random times, and named points inside applies, generation
// switches, seals, replaces, checkpoints and closes), then recovers the file
// and checks it against the model:
//
//   - the recovered applied id A is exact: at least the last id the child
//     reported applied, at most one more;
//   - every key holds its value in model(A) or one that batch A+1 sets
//     (batch A+1 may be partly in), and nothing else;
//   - after re-applying batch A+1 the file equals model(A+1);
//   - Verify passes before and after recovery, and on the sealed copy.
func TestCrashWriterKill(t *testing.T) {
	points := crashPoints(t)
	seed := testSeed(t)
	rng := newRand(seed)
	dir := t.TempDir()
	path := filepath.Join(dir, "cache")
	model := map[string][]byte{}
	var modelID uint64
	advance := func(to uint64) {
		for ; modelID < to; modelID++ {
			applyModel(model, genBatch(seed, modelID+1, crashKeySpace))
		}
	}
	killed, byPoint := 0, map[string]int{}
	start := time.Now()
	for round := 0; killed < points; round++ {
		if round > 3*points+20 {
			t.Fatalf("only %d kills in %d rounds", killed, round)
		}
		env := []string{childEnv + "=crash-writer", "CF_PATH=" + path, fmt.Sprintf("CF_SEED=%d", seed)}
		if rng.IntN(4) == 0 {
			env = append(env, "CF_NOSYNC=0")
		} else {
			env = append(env, "CF_NOSYNC=1")
		}
		point := "timer"
		var delay time.Duration
		if rng.IntN(2) == 0 {
			p := crashPointNames[rng.IntN(len(crashPointNames))]
			point = p.name
			env = append(env, "CF_POINT="+p.name, fmt.Sprintf("CF_HIT=%d", 1+rng.IntN(p.hits)))
		} else {
			delay = time.Duration(rng.Int64N(int64(40 * time.Millisecond)))
		}
		// Most timed kills count from the end of OpenWriter, some from the
		// start of the process (to kill recoveries).
		reported, wasKilled, err := runCrashChild(env, delay, rng.IntN(5) > 0)
		if err != nil {
			t.Fatalf("round %d (%s): %v", round, point, err)
		}
		if wasKilled {
			killed++
			byPoint[point]++
			if reported > modelID {
				byPoint["after progress"]++
			}
		}
		if err := checkAfterCrash(path, seed, reported, model, &modelID, advance); err != nil {
			t.Fatalf("round %d, killed at %s after update %d: %v", round, point, reported, err)
		}
	}
	t.Logf("%d kills in %v, at %v; last update %d", killed, time.Since(start).Round(time.Millisecond), byPoint, modelID)
}

// runCrashChild runs one crash child, killing it after delay when delay is
// not zero (counted from when the child has opened the file, if afterOpen).
// It returns the last update id the child reported applied.
func runCrashChild(env []string, delay time.Duration, afterOpen bool) (reported uint64, killed bool, err error) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, false, err
	}
	if err := cmd.Start(); err != nil {
		return 0, false, err
	}
	var timer *time.Timer
	startTimer := func() {
		if delay > 0 && timer == nil {
			timer = time.AfterFunc(delay, func() { _ = cmd.Process.Kill() })
		}
	}
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	if !afterOpen {
		startTimer()
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if sc.Text() == "open" && afterOpen {
			startTimer()
		}
		if id, err := strconv.ParseUint(sc.Text(), 10, 64); err == nil {
			reported = id
		}
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return reported, false, nil
	case errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL:
		return reported, true, nil
	default:
		return reported, false, fmt.Errorf("child failed: %v: %s", err, stderr.Bytes())
	}
}

func checkAfterCrash(path string, seed, reported uint64, model map[string][]byte, modelID *uint64, advance func(uint64)) error {
	if _, err := Verify(context.Background(), path); err != nil && !errors.Is(err, ErrNoFile) {
		return fmt.Errorf("before recovery: %w", err)
	}
	if _, err := Verify(context.Background(), path+".sealed"); err != nil && !errors.Is(err, ErrNoFile) {
		return fmt.Errorf("sealed copy: %w", err)
	}
	opts := smallOpts()
	w, err := OpenWriter(context.Background(), path, testLogID, opts)
	if err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	defer w.Close()
	a := w.UpdateID()
	reported = max(reported, *modelID) // the child may have died before applying anything
	if a < reported || a > reported+1 {
		return fmt.Errorf("recovered at update %d; the child had reported %d, the previous round ended at %d", a, reported, *modelID)
	}
	advance(a)
	next := genBatch(seed, a+1, crashKeySpace)
	r, err := Open(path)
	if err != nil {
		return err
	}
	defer r.Close()
	if err := checkPartial(r, model, next); err != nil {
		return fmt.Errorf("at update %d: %w", a, err)
	}
	if err := w.Apply(a+1, next); err != nil {
		return err
	}
	advance(a + 1)
	if err := compareModel(r, model, a+1); err != nil {
		return fmt.Errorf("after re-applying update %d: %w", a+1, err)
	}
	if _, err := Verify(context.Background(), path); err != nil {
		return fmt.Errorf("after recovery: %w", err)
	}
	return nil
}

// checkPartial checks that every key of r holds its model value or one
// that batch next sets, and that every model key missing from r is one that
// next deletes.
func checkPartial(r *Reader, model map[string][]byte, next []Op) error {
	allowed := map[string][][]byte{}
	deletable := map[string]bool{}
	for _, op := range next {
		if op.Delete {
			deletable[string(op.Key)] = true
		} else {
			allowed[string(op.Key)] = append(allowed[string(op.Key)], op.Value)
		}
	}
	seen := 0
	for k, v := range r.All() {
		want, inModel := model[string(k)]
		if inModel {
			seen++
		}
		if inModel && bytes.Equal(v, want) {
			continue
		}
		ok := false
		for _, a := range allowed[string(k)] {
			ok = ok || bytes.Equal(a, v)
		}
		if !ok {
			return fmt.Errorf("key %q holds a value from neither the model nor the next batch", k)
		}
	}
	if missing := len(model) - seen; missing > 0 {
		for k := range model {
			if ok, _ := r.Has([]byte(k)); !ok && !deletable[k] {
				return fmt.Errorf("key %q is missing and the next batch does not delete it", k)
			}
		}
	}
	return nil
}

package dirstore

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/storetest"
)

// The tests re-execute the test binary as writer processes. TestMain runs
// the child when childEnv is set, configured by the other variables.
const (
	childEnv        = "DIRSTORE_TEST_CHILD" // the log directory
	childTagEnv     = "DIRSTORE_TEST_TAG"
	childWritersEnv = "DIRSTORE_TEST_WRITERS"
	childCountEnv   = "DIRSTORE_TEST_COUNT"   // updates per writer; 0 appends until killed
	childRewriteEnv = "DIRSTORE_TEST_REWRITE" // "", "keep-deletes" or "drop-deletes"
	childSegEnv     = "DIRSTORE_TEST_SEGMENT"
	childPaceEnv    = "DIRSTORE_TEST_PACE" // a pause between appends
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		if err := runChild(dir); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// childConfig configures a child writer process.
type childConfig struct {
	tag     string
	writers int
	count   int
	rewrite string // "": none; "keep-deletes": rewrites that keep the horizon at 0; "drop-deletes": up to half the log
	segment int64
	pace    time.Duration
}

// env returns the environment that starts a child with c on the log dir.
func (c childConfig) env(dir string) []string {
	return append(os.Environ(), childEnv+"="+dir, childTagEnv+"="+c.tag,
		childWritersEnv+"="+strconv.Itoa(c.writers), childCountEnv+"="+strconv.Itoa(c.count),
		childRewriteEnv+"="+c.rewrite, childSegEnv+"="+strconv.FormatInt(c.segment, 10),
		childPaceEnv+"="+c.pace.String())
}

// runChild appends from several goroutines and prints "ack <id> <writer>
// <seq> <unix nanoseconds>" once each append returns; with rewrite set, it
// also rewrites the history over and over.
func runChild(dir string) error {
	var c childConfig
	c.tag = os.Getenv(childTagEnv)
	c.writers, _ = strconv.Atoi(os.Getenv(childWritersEnv))
	c.count, _ = strconv.Atoi(os.Getenv(childCountEnv))
	c.rewrite = os.Getenv(childRewriteEnv)
	c.segment, _ = strconv.ParseInt(os.Getenv(childSegEnv), 10, 64)
	c.pace, _ = time.ParseDuration(os.Getenv(childPaceEnv))
	ctx := context.Background()
	s, err := Open(ctx, dir, logstore.Options{Name: "log"}, WithSegmentSize(c.segment))
	if err != nil {
		return err
	}
	var out sync.Mutex
	w := bufio.NewWriter(os.Stdout)
	errs := make(chan error, c.writers+1)
	for g := range c.writers {
		go func() { errs <- childWriter(ctx, s, c, g, &out, w) }()
	}
	if c.rewrite != "" {
		go func() {
			for {
				latest, _ := s.Latest(ctx)
				opts := logstore.RewriteOptions{Through: latest}
				if c.rewrite == "drop-deletes" {
					opts.DeleteLimit = latest / 2
				}
				if _, err := s.Rewrite(ctx, opts); err != nil {
					errs <- err
					return
				}
				time.Sleep(25 * time.Millisecond)
			}
		}()
	}
	for range c.writers {
		if err := <-errs; err != nil {
			return err
		}
	}
	return s.Close()
}

// childWriter appends c.count updates (or until killed) and acknowledges
// each on out.
func childWriter(ctx context.Context, s *Store, c childConfig, g int, mu *sync.Mutex, w *bufio.Writer) error {
	for seq := 0; c.count == 0 || seq < c.count; seq++ {
		id, err := s.Append(ctx, childOps(c.tag, g, seq))
		if err != nil {
			return err
		}
		mu.Lock()
		fmt.Fprintf(w, "ack %d %d %d %d\n", id, g, seq, time.Now().UnixNano())
		err = w.Flush()
		mu.Unlock()
		if err != nil {
			return err
		}
		time.Sleep(c.pace)
	}
	return nil
}

// childOps returns the update a child's writer g appends at seq: unique
// keys (never rewritten away) with values of varied sizes, a hot key that
// every update sets, and a key set or deleted.
func childOps(tag string, g, seq int) []logstore.Op {
	var ops []logstore.Op
	for i := range 1 + seq%4 {
		n := (seq*37 + i*11) % 300
		if seq%50 == 7 {
			n = 40_000
		}
		v := bytes.Repeat(fmt.Appendf(nil, "%s.%d.%d.%d;", tag, g, seq, i), n)[:n]
		ops = append(ops, logstore.Set(fmt.Appendf(nil, "u/%s/%d/%d/%d", tag, g, seq, i), v))
	}
	ops = append(ops, logstore.Set(fmt.Appendf(nil, "hot/%s", tag), fmt.Appendf(nil, "%s/%d/%d", tag, g, seq)))
	d := fmt.Appendf(nil, "d/%s/%d", tag, g)
	if seq%3 == 0 {
		return append(ops, logstore.Delete(d))
	}
	return append(ops, logstore.Set(d, []byte("x")))
}

// ack is an acknowledged append of a child.
type ack struct {
	id     uint64
	tag    string
	g, seq int
	at     time.Time // when the child's Append returned
}

// readAcks parses a child's acknowledgements until r ends; a line cut short
// by a kill is ignored.
func readAcks(r io.Reader, tag string, each func(ack)) error {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var a ack
		var at int64
		if n, _ := fmt.Sscanf(sc.Text(), "ack %d %d %d %d", &a.id, &a.g, &a.seq, &at); n != 4 {
			continue
		}
		a.tag, a.at = tag, time.Unix(0, at)
		each(a)
	}
	return sc.Err()
}

// exitError is what Wait returns for a killed child.
type exitError = exec.ExitError

// startChild starts a child process on the log dir.
func startChild(t *testing.T, dir string, c childConfig) (*exec.Cmd, io.ReadCloser) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = c.env(dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, out
}

// checkChildLog reads the whole log and checks it against the children's
// acknowledgements (those above after): every acknowledged update is there at its id, and every
// update there is one a child appended, whole (a rewrite may only have
// removed its hot key and delete-or-set key). It returns the log.
func checkChildLog(t *testing.T, s logstore.Store, acks map[uint64]ack, after uint64) []logstore.Update {
	t.Helper()
	all, err := storetest.ReadAll(t.Context(), s, after, 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]bool{}
	for _, u := range all {
		a, err := identify(u)
		if err != nil {
			t.Fatalf("update %d: %v", u.ID, err)
		}
		if want, ok := acks[u.ID]; ok && (want.tag != a.tag || want.g != a.g || want.seq != a.seq) {
			t.Fatalf("update %d is %+v, acknowledged as %+v", u.ID, a, want)
		}
		if msg := checkWhole(u, childOps(a.tag, a.g, a.seq)); msg != "" {
			t.Fatalf("update %d (%+v) is not whole: %s", u.ID, a, msg)
		}
		seen[u.ID] = true
	}
	for id, a := range acks {
		if !seen[id] {
			t.Fatalf("acknowledged update %d (%+v) is missing", id, a)
		}
	}
	return all
}

// identify tells which child update u is, from its first key.
func identify(u logstore.Update) (ack, error) {
	var a ack
	if len(u.Ops) == 0 {
		return a, fmt.Errorf("no operations")
	}
	parts := strings.Split(string(u.Ops[0].Key), "/")
	if len(parts) != 5 || parts[0] != "u" || parts[4] != "0" {
		return a, fmt.Errorf("first key %q is not a child's", u.Ops[0].Key)
	}
	a.tag = parts[1]
	a.g, _ = strconv.Atoi(parts[2])
	a.seq, _ = strconv.Atoi(parts[3])
	return a, nil
}

// checkWhole checks that got holds, in order, a subsequence of want that has
// every one of want's unique keys.
func checkWhole(got logstore.Update, want []logstore.Op) string {
	j := 0
	for _, w := range want {
		if j < len(got.Ops) && got.Ops[j].Type == w.Type && bytes.Equal(got.Ops[j].Key, w.Key) && bytes.Equal(got.Ops[j].Value, w.Value) {
			j++
			continue
		}
		if bytes.HasPrefix(w.Key, []byte("u/")) {
			return fmt.Sprintf("operation on %q missing or different", w.Key)
		}
	}
	if j != len(got.Ops) {
		return fmt.Sprintf("operation %d (%s %q) not expected", j, got.Ops[j].Type, got.Ops[j].Key)
	}
	return ""
}

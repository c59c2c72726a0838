package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/whycache/whycache"
	"github.com/whycache/whycache/pkg/agentapi"
	"github.com/whycache/whycache/pkg/cachefile"
)

// readerChildEnv, when set to an instance directory, makes the test binary
// a reader process (see readerChild).
const readerChildEnv = "WHYCACHE_E2E_READER_DIR"

// readerReport is what a reader process prints when it stops.
type readerReport struct {
	Reads, Misses, Torn int
	Generations         int // distinct generations the reader was on
	FirstErr            string
}

// selfCheckedValue returns a value that carries its key and its own CRC, so
// a reader can tell a torn or misplaced value.
func selfCheckedValue(key string, seq int, size int) []byte {
	body := fmt.Sprintf("%s|%d|%s", key, seq, strings.Repeat("x", size))
	return fmt.Appendf(nil, "%08x|%s", crc32.ChecksumIEEE([]byte(body)), body)
}

// checkValue reports whether v is a well-formed value of key.
func checkValue(key string, v []byte) error {
	s := string(v)
	if len(s) < 9 || s[8] != '|' {
		return fmt.Errorf("value of %s is malformed: %.40q", key, s)
	}
	body := s[9:]
	if fmt.Sprintf("%08x", crc32.ChecksumIEEE([]byte(body))) != s[:8] {
		return fmt.Errorf("value of %s fails its checksum: %.40q", key, s)
	}
	if !strings.HasPrefix(body, key+"|") {
		return fmt.Errorf("value of another key under %s: %.40q", key, s)
	}
	return nil
}

// readerChild reads random keys continuously until SIGTERM, checking every
// value, then prints a readerReport as JSON.
func readerChild() {
	dir := os.Getenv(readerChildEnv)
	keys := 200
	var rep readerReport
	c, err := whycache.Open(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	stop := make(chan os.Signal, 1)
	signalNotify(stop)
	gens := map[uint64]bool{}
	r, err := cachefile.Open(filepath.Join(dir, agentapi.CacheFileName))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("ready")
	for done := false; !done; {
		select {
		case <-stop:
			done = true
		default:
		}
		for range 1000 {
			key := fmt.Sprintf("r/%d", rand.IntN(keys))
			err := c.View([]byte(key), func(v []byte) {
				if cerr := checkValue(key, v); cerr != nil {
					rep.Torn++
					if rep.FirstErr == "" {
						rep.FirstErr = cerr.Error()
					}
				}
			})
			rep.Reads++
			if errors.Is(err, whycache.ErrNotFound) {
				rep.Misses++
			} else if err != nil && rep.FirstErr == "" {
				rep.FirstErr = err.Error()
			}
			_, _ = r.Has([]byte(key))
			gens[r.Generation()] = true
		}
	}
	rep.Generations = len(gens)
	_ = json.NewEncoder(os.Stdout).Encode(rep)
	os.Exit(0)
}

func signalNotify(c chan os.Signal) { signal.Notify(c, syscall.SIGTERM) }

// TestReadersDuringCompaction keeps two reader processes reading while the
// agent (a process) takes overwrites that make it compact and grow the file
// into new generations; the readers follow the generations and never see a
// torn value.
func TestReadersDuringCompaction(t *testing.T) {
	root := t.TempDir()
	url := filepath.Join(root, "log")
	dir := filepath.Join(root, "node")
	p := startProcArgs(t, dir, url, "node", "--cache-initial-keys", "64", "--cache-initial-data-size", "65536",
		"--cache-max-garbage-ratio", "0.3", "--cache-min-garbage-bytes", "65536")
	c := openClient(t, dir, whycache.WithApplyWait())
	ctx := t.Context()
	seq := 0
	write := func(n int) {
		for range n {
			key := fmt.Sprintf("r/%d", seq%200)
			if _, err := c.Set(ctx, []byte(key), selfCheckedValue(key, seq, rand.IntN(2000))); err != nil {
				t.Fatal(err)
			}
			seq++
		}
	}
	write(200) // every key exists before the readers start
	readers := make([]*exec.Cmd, 2)
	outs := make([]io.Reader, len(readers))
	for i := range readers {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), readerChildEnv+"="+dir)
		pr, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 6)
		if _, err := io.ReadFull(pr, buf); err != nil || string(buf) != "ready\n" {
			t.Fatalf("reader %d: %q %v", i, buf, err)
		}
		readers[i], outs[i] = cmd, pr
	}
	startGen := generation(t, dir)
	write(3000)
	endGen := generation(t, dir)
	for i, cmd := range readers {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		// The report comes at exit; read it all before Wait closes the pipe.
		out, err := io.ReadAll(outs[i])
		if err != nil {
			t.Fatalf("reader %d: %v", i, err)
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("reader %d: %v", i, err)
		}
		var rep readerReport
		if err := json.Unmarshal(out, &rep); err != nil {
			t.Fatalf("reader %d report %q: %v", i, out, err)
		}
		t.Logf("reader %d: %+v", i, rep)
		if rep.Torn != 0 || rep.Misses != 0 || rep.FirstErr != "" {
			t.Errorf("reader %d: %d torn values, %d misses, first error %q", i, rep.Torn, rep.Misses, rep.FirstErr)
		}
		if rep.Generations < 2 {
			t.Errorf("reader %d stayed on %d generation(s); the file went from generation %d to %d", i, rep.Generations, startGen, endGen)
		}
	}
	if endGen <= startGen {
		t.Fatalf("no new generation during the test (%d → %d)", startGen, endGen)
	}
	p.stop(t)
}

func generation(t *testing.T, dir string) uint64 {
	t.Helper()
	info, err := cachefile.Inspect(filepath.Join(dir, agentapi.CacheFileName))
	if err != nil {
		t.Fatal(err)
	}
	return info.Generation
}

package agentbench

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/whycache/whycache/pkg/agentapi"
	"github.com/whycache/whycache/pkg/cachefile"
	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/dirstore"
)

// BenchmarkAgentMemory measures the agent process's anonymous memory (its
// resident set minus the file mapping) while it builds and then holds a
// cache file of about 1 GiB: 1M keys with 1000-byte values, from a
// local-directory log. Run it with -benchtime=1x.
func BenchmarkAgentMemory(b *testing.B) {
	const keys, valueSize, perUpdate = 1 << 20, 1000, 1000
	root := b.TempDir()
	logDir := filepath.Join(root, "log")
	store, err := dirstore.Open(b.Context(), logDir, logstore.Options{Create: true})
	if err != nil {
		b.Fatal(err)
	}
	value := make([]byte, valueSize)
	for start := 0; start < keys; start += perUpdate {
		ops := make([]logstore.Op, 0, perUpdate)
		for i := start; i < start+perUpdate; i++ {
			ops = append(ops, logstore.Set(fmt.Appendf(nil, "key:%08d", i), value))
		}
		if _, err := store.Append(b.Context(), ops); err != nil {
			b.Fatal(err)
		}
	}
	latest, _ := store.Latest(b.Context())
	store.Close()

	bin := filepath.Join(root, "whycache")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/whycache/whycache/cmd/whycache").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	dir := filepath.Join(root, "node")
	cmd := exec.Command(bin, "agent", "--dir", dir, "--store", logDir, "--health-addr", "", "--log-format", "console")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	logf, _ := os.Create(filepath.Join(root, "agent.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	b.ResetTimer()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	var peakAnon int64
	path := filepath.Join(dir, agentapi.CacheFileName)
	for {
		if m, err := smaps(cmd.Process.Pid); err == nil {
			peakAnon = max(peakAnon, m["Anonymous"])
		}
		if info, err := cachefile.Inspect(path); err == nil && info.UpdateID >= latest {
			break
		}
		if time.Since(start) > 10*time.Minute {
			b.Fatal("agent did not catch up within 10 minutes")
		}
		time.Sleep(50 * time.Millisecond)
	}
	catchUp := time.Since(start)
	b.StopTimer()
	time.Sleep(500 * time.Millisecond) // let the agent settle after its last batch
	m, err := smaps(cmd.Process.Pid)
	if err != nil {
		b.Fatal(err)
	}
	info, err := cachefile.Inspect(path)
	if err != nil {
		b.Fatal(err)
	}
	mib := func(kb int64) float64 { return float64(kb) / 1024 }
	b.ReportMetric(mib(m["Anonymous"]), "anon-MiB")
	b.ReportMetric(mib(peakAnon), "peak-anon-MiB")
	b.ReportMetric(float64(info.FileSize)/(1<<20), "file-MiB")
	record("node agent memory with a ~1 GiB cache file (1M keys × 1000 B, local-directory log)", "memory",
		"cache file %.0f MiB\tcatch-up %s\tRSS %.0f MiB\tof which file mapping %.0f MiB\tanonymous %.1f MiB (peak during catch-up %.1f MiB)",
		float64(info.FileSize)/(1<<20), catchUp.Round(time.Millisecond), mib(m["Rss"]), mib(m["Rss"]-m["Anonymous"]),
		mib(m["Anonymous"]), mib(peakAnon))
}

// smaps returns the fields of /proc/PID/smaps_rollup, in KiB.
func smaps(pid int) (map[string]int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 3 && fields[2] == "kB" {
			n, _ := strconv.ParseInt(fields[1], 10, 64)
			m[strings.TrimSuffix(fields[0], ":")] = n
		}
	}
	return m, sc.Err()
}

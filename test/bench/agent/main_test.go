// Package agentbench measures whycache end to end on one machine and compares
// it with its peers in the same run: write → visible on another node latency
// per log store, acknowledged writes per second through one agent, Get from
// the cache file against GET from Redis, and the agent's memory with a 1 GiB
// cache file. `make bench` runs it (hack/bench.d/agent.sh) and it prints a
// summary table after the benchmarks.
package agentbench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/go-logr/logr"

	"github.com/whycache/whycache/internal/agenttest"
	"github.com/whycache/whycache/internal/testserver"
	nodeagent "github.com/whycache/whycache/node-agent"
	"github.com/whycache/whycache/pkg/cachefile"
	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/backends"
)

func TestMain(m *testing.M) { testserver.Main(m, printSummary, removeTempDir) }

// summary collects figures for the table printed after the benchmarks.
var summary struct {
	sync.Mutex
	rows map[string][]row // section → rows, in first-recorded order
}

type row struct{ key, line string }

// record sets a row of the summary; a later call with the same section and
// key (the benchmark's next, longer run) replaces the line.
func record(section, key, format string, args ...any) {
	summary.Lock()
	defer summary.Unlock()
	if summary.rows == nil {
		summary.rows = map[string][]row{}
	}
	line := fmt.Sprintf(format, args...)
	rows := summary.rows[section]
	for i := range rows {
		if rows[i].key == key {
			rows[i].line = line
			return
		}
	}
	summary.rows[section] = append(rows, row{key, line})
}

func printSummary() {
	summary.Lock()
	defer summary.Unlock()
	if len(summary.rows) == 0 {
		return
	}
	sections := make([]string, 0, len(summary.rows))
	for s := range summary.rows {
		sections = append(sections, s)
	}
	sort.Strings(sections)
	w := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	for _, s := range sections {
		fmt.Fprintf(w, "\n%s\n", s)
		for _, r := range summary.rows[s] {
			fmt.Fprintln(w, r.line)
		}
	}
	w.Flush()
}

// backend is a log store to benchmark against.
type backend struct {
	name string
	url  func(b *testing.B) string
}

var allBackends = []backend{
	{"dir", func(b *testing.B) string { return filepath.Join(b.TempDir(), "log") }},
	{"mariadb", func(b *testing.B) string { return "mysql:" + testserver.MySQLDatabase(b) }},
	{"postgres", func(b *testing.B) string { return testserver.PostgresDatabase(b) }},
}

// startAgent runs an in-process agent for node name over url until the
// benchmark ends.
func startAgent(b *testing.B, dir, url, name string) *agenttest.Agent {
	b.Helper()
	return agenttest.Start(b, nodeagent.Config{
		Dir:       dir,
		NodeName:  name,
		CreateLog: true,
		OpenStore: func(ctx context.Context, opts logstore.Options) (logstore.Store, error) {
			return backends.Open(ctx, url, opts)
		},
		HeartbeatInterval: time.Second,
		Cache:             cachefile.Options{NoSync: true},
		Logger:            logr.Discard(),
	})
}

// percentile returns the p-th percentile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p)
	return sorted[i]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }

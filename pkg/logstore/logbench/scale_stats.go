package logbench

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// errCounterBack means that a server counter went down between two samples
// (the server restarted, or its statistics were reset), so no rate can be
// taken from them.
var errCounterBack = errors.New("counter went backwards")

// serverSample is what the observed database server reports at one moment.
type serverSample struct {
	At time.Time
	// Conns is the number of client connections, the observer's own
	// excluded.
	Conns int
	// Queries is the server's running count of client statements
	// (MariaDB's Questions) or of transactions (PostgreSQL's xact_commit
	// plus xact_rollback over every database).
	Queries uint64
	// CPU is the CPU time the server's processes have used so far; negative
	// when it cannot be read (a server on another machine).
	CPU time.Duration
}

// rates are per-second rates of the server's counters over a window.
type rates struct {
	// CPU is CPU seconds per second (1.0 is one core busy); negative when
	// unknown.
	CPU float64
	// Queries is statements (MariaDB) or transactions (PostgreSQL) per
	// second.
	Queries float64
	// Bench is the benchmark process's own CPU seconds per second, and
	// Relays the relays' (see Target.RelayPIDs); negative when unknown or
	// when there are none.
	Bench, Relays float64
}

// rateBetween returns the rates from sample a to the later sample b.
func rateBetween(a, b serverSample) (rates, error) {
	secs := b.At.Sub(a.At).Seconds()
	if secs <= 0 {
		return rates{}, fmt.Errorf("samples %v and %v are not in order", a.At, b.At)
	}
	if b.Queries < a.Queries {
		return rates{}, fmt.Errorf("queries %d then %d: %w", a.Queries, b.Queries, errCounterBack)
	}
	r := rates{CPU: -1, Bench: -1, Relays: -1, Queries: float64(b.Queries-a.Queries) / secs}
	if a.CPU >= 0 && b.CPU >= 0 {
		if b.CPU < a.CPU {
			return rates{}, fmt.Errorf("CPU time %v then %v: %w", a.CPU, b.CPU, errCounterBack)
		}
		r.CPU = (b.CPU - a.CPU).Seconds() / secs
	}
	return r, nil
}

// percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method, or 0 for no values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// propagation summarises how writes reached the tailers.
type propagation struct {
	// Writes is the number of writes made; Seen the number that every
	// tailer applied, and P50 and P99 their write → applied-on-all times.
	Writes, Seen int
	P50, P99     time.Duration
	// Append is the writes' own latency (write began → Append returned),
	// and First their write → applied-on-the-first-tailer times: with the
	// write → all times they tell the store's commit, the relays' noticing
	// and the fan-out apart.
	Append, First spread
}

// spread is the median and the 99th percentile of N latencies.
type spread struct {
	N        int
	P50, P99 time.Duration
}

// spreadOf returns the spread of lat, which it sorts.
func spreadOf(lat []time.Duration) spread {
	slices.Sort(lat)
	return spread{N: len(lat), P50: percentile(lat, 50), P99: percentile(lat, 99)}
}

// writeTimes is what is known of one write of the write window: when it
// began (zero: no write has its slot) and its Append returned, when the
// first and the last tailer applied it, and how many did.
type writeTimes struct {
	began, returned     time.Time
	firstSeen, lastSeen time.Time
	seenBy              int
}

// summarise computes the propagation of writes to nodes tailers. A
// tailer may apply a write before its Append returns, or (by the clocks'
// grain) at the moment it began: latencies are never negative.
func summarise(ws []writeTimes, nodes int) propagation {
	var p propagation
	var all, app, first []time.Duration
	for _, w := range ws {
		if w.began.IsZero() {
			continue
		}
		p.Writes++
		app = append(app, max(w.returned.Sub(w.began), 0))
		if w.seenBy >= 1 {
			first = append(first, max(w.firstSeen.Sub(w.began), 0))
		}
		if w.seenBy >= nodes {
			all = append(all, max(w.lastSeen.Sub(w.began), 0))
		}
	}
	s := spreadOf(all)
	p.Seen, p.P50, p.P99 = s.N, s.P50, s.P99
	p.Append, p.First = spreadOf(app), spreadOf(first)
	return p
}

// procTimes is what the scale benchmark needs of /proc/<pid>/stat.
type procTimes struct {
	PPID int
	// Self is the process's user and system time; Children the time of its
	// children that have exited and been waited for.
	Self, Children time.Duration
}

// clockTick is the unit of /proc/<pid>/stat's times (USER_HZ, 100 on
// every Linux architecture Go supports).
const clockTick = 10 * time.Millisecond

// parseProcStat parses the contents of /proc/<pid>/stat.
func parseProcStat(b []byte) (procTimes, error) {
	s := string(b)
	// The command name is in parentheses and may hold spaces and
	// parentheses itself: the fields start after the last ')'.
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procTimes{}, fmt.Errorf("parse /proc stat: no ')' after the command name")
	}
	f := strings.Fields(s[i+1:])
	// After the name: state(3) ppid(4) ... utime(14) stime(15) cutime(16) cstime(17).
	const ppid, utime, cstime = 4 - 3, 14 - 3, 17 - 3
	if len(f) <= cstime {
		return procTimes{}, fmt.Errorf("parse /proc stat: %d fields after the command name, want at least %d", len(f), cstime+1)
	}
	var n [4]int64
	for k := range n {
		v, err := strconv.ParseInt(f[utime+k], 10, 64)
		if err != nil || v < 0 {
			return procTimes{}, fmt.Errorf("parse /proc stat: field %d is %q, want a tick count", utime+k+3, f[utime+k])
		}
		n[k] = v
	}
	pp, err := strconv.Atoi(f[ppid])
	if err != nil || pp < 0 {
		return procTimes{}, fmt.Errorf("parse /proc stat: parent pid %q", f[ppid])
	}
	return procTimes{PPID: pp, Self: time.Duration(n[0]+n[1]) * clockTick, Children: time.Duration(n[2]+n[3]) * clockTick}, nil
}

// ParseNodes parses a comma-separated list of node counts, such as
// "10,100,300,1000".
func ParseNodes(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > maxNodes {
			return nil, fmt.Errorf("node count %q: want a whole number from 1 to %d", f, maxNodes)
		}
		out = append(out, n)
	}
	return out, nil
}

// maxNodes bounds a node count: each simulated node holds a store with its
// own database connections.
const maxNodes = 100_000

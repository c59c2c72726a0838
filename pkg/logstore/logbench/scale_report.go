package logbench

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// The fan-in targets, for the largest fleet: the database serves 1,000
// nodes through a handful of connections, idles under a few hundred
// queries a second, and a write reaches every node well under a second.
const (
	targetScaleNodes   = 1000
	targetScaleConns   = 20
	targetScaleQueries = 200
	targetScaleP99     = 250 * time.Millisecond
)

// scaleHeader is the markdown table's header.
const scaleHeader = `| store | nodes | DB connections (idle) | per node | DB CPU s/s idle | queries/s idle | per node | DB CPU s/s, 100 writes/s | queries/s, 100 writes/s | write → all nodes p50 | p99 | notes | target (1,000 nodes: ≤20 conns, <200 q/s idle, p99 ≤250 ms) |
|---|---|---|---|---|---|---|---|---|---|---|---|---|`

// latencyHeader is the header of the second table: where the time from a
// write to its being on all nodes goes.
const latencyHeader = `| store | nodes | writes | append p50 | p99 | write → first node p50 | p99 | write → all nodes p50 | p99 |
|---|---|---|---|---|---|---|---|---|`

// PrintScaleTable prints the results as a markdown table, then the
// latencies of their writes as a second one. Queries are MariaDB's
// Questions (client statements) and PostgreSQL's transactions
// (xact_commit + xact_rollback).
func PrintScaleTable(w io.Writer, results []ScaleResult) {
	fmt.Fprintln(w, scaleHeader)
	for _, r := range results {
		fmt.Fprintln(w, scaleRow(r))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, latencyHeader)
	for _, r := range results {
		fmt.Fprintln(w, latencyRow(r))
	}
}

// latencyRow formats the latencies of one result's writes: the Append's
// own (write began → Append returned), and write began → applied on the
// first and on the last node.
func latencyRow(r ScaleResult) string {
	p := r.Prop
	cells := []string{
		r.Target, fmt.Sprint(r.Nodes), fmt.Sprint(p.Writes),
		latencyCell(p.Append.P50, p.Append.N), latencyCell(p.Append.P99, p.Append.N),
		latencyCell(p.First.P50, p.First.N), latencyCell(p.First.P99, p.First.N),
		latencyCell(p.P50, p.Seen), latencyCell(p.P99, p.Seen),
	}
	return "| " + strings.Join(cells, " | ") + " |"
}

// scaleRow formats one result as a markdown table row.
func scaleRow(r ScaleResult) string {
	if r.Err != "" {
		return fmt.Sprintf("| %s | %d | | | | | | | | | | stopped: %s (load %s) | |", r.Target, r.Nodes, mdEscape(r.Err), r.LoadAvg)
	}
	n := float64(r.Nodes)
	cells := []string{
		r.Target, fmt.Sprint(r.Nodes),
		fmt.Sprint(r.Conns), fmt.Sprintf("%.2f", float64(r.Conns)/n),
		cpuCell(r.Idle.CPU), fmt.Sprintf("%.0f", r.Idle.Queries), fmt.Sprintf("%.2f", r.Idle.Queries/n),
		cpuCell(r.Load.CPU), fmt.Sprintf("%.0f", r.Load.Queries),
		latencyCell(r.Prop.P50, r.Prop.Seen), latencyCell(r.Prop.P99, r.Prop.Seen),
		scaleNotes(r), scaleVerdict(r),
	}
	return "| " + strings.Join(cells, " | ") + " |"
}

func cpuCell(v float64) string {
	if v < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", v)
}

func latencyCell(d time.Duration, seen int) string {
	if seen == 0 {
		return "-"
	}
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
}

// scaleNotes lists what went wrong or is worth knowing next to the figures.
func scaleNotes(r ScaleResult) string {
	notes := []string{fmt.Sprintf("%.0f writes/s", r.Rate)}
	if missed := r.Prop.Writes - r.Prop.Seen; missed > 0 {
		notes = append(notes, fmt.Sprintf("**%d of %d writes not on all nodes after the drain; %d nodes behind**", missed, r.Prop.Writes, r.Behind))
	}
	for _, e := range []struct {
		n    int64
		what string
	}{{r.WriteErrs, "failed writes"}, {r.TailErrs, "failed reads/waits"}, {r.HeartbeatErrs, "failed heartbeats"}} {
		if e.n > 0 {
			notes = append(notes, fmt.Sprintf("**%d %s**", e.n, e.what))
		}
	}
	if r.Load.Bench >= 0 {
		notes = append(notes, fmt.Sprintf("tailers' CPU %.2f s/s idle, %.2f s/s under writes", r.Idle.Bench, r.Load.Bench))
	}
	if r.GCs > 0 {
		notes = append(notes, fmt.Sprintf("%d GCs of the tailers' process under writes", r.GCs))
	}
	if r.Load.Relays >= 0 {
		notes = append(notes, fmt.Sprintf("relays' CPU %.2f s/s idle, %.2f s/s under writes", r.Idle.Relays, r.Load.Relays))
	}
	if r.FirstErr != "" {
		notes = append(notes, "first error: "+mdEscape(r.FirstErr))
	}
	if r.LoadAvg != "" {
		notes = append(notes, "load "+r.LoadAvg)
	}
	return strings.Join(notes, "; ")
}

// scaleVerdict checks the targets on the largest fleet only, naming the
// ones missed.
func scaleVerdict(r ScaleResult) string {
	if r.Nodes < targetScaleNodes {
		return ""
	}
	var missed []string
	if r.Conns > targetScaleConns {
		missed = append(missed, "connections")
	}
	if r.Idle.Queries >= targetScaleQueries {
		missed = append(missed, "idle queries")
	}
	if r.Prop.Writes == 0 || r.Prop.Seen < r.Prop.Writes || r.Prop.P99 > targetScaleP99 {
		missed = append(missed, "propagation")
	}
	if len(missed) > 0 {
		return "MISSED: " + strings.Join(missed, ", ")
	}
	return "ok"
}

// mdEscape keeps a message inside its table cell.
func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

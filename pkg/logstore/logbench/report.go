package logbench

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// Targets from issue 3.
const (
	targetRatio    = 0.5
	targetTailRead = 200_000
	targetRewrite  = 10 * time.Second
)

// PrintTable prints the results as one table, with the targets checked.
func PrintTable(w io.Writer, results []Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "backend\tmeasure\tkeys/update\twriters\tupdates/s\tops/s\traw INSERT ops/s\tratio\ttarget\t")
	for _, r := range results {
		fmt.Fprintln(tw, row(r))
	}
	tw.Flush()
}

func row(r Result) string {
	switch r.Measure {
	case "append":
		raw, ratio, target := "-", "-", ""
		if r.Raw > 0 {
			raw = fmt.Sprintf("%.0f", r.Raw)
			ratio = fmt.Sprintf("%.0f%%", 100*r.Ours/r.Raw)
			if r.Writers == 64 {
				target = verdict(r.Ours >= targetRatio*r.Raw, "≥50% of raw")
			}
		}
		return fmt.Sprintf("%s\tappend\t%d\t%d\t%.0f\t%.0f\t%s\t%s\t%s\t", r.Backend, r.Keys, r.Writers, r.Updates, r.Ours, raw, ratio, target)
	case "tail read":
		return fmt.Sprintf("%s\ttail read (%s)\t\t1\t\t%.0f\t\t\t%s\t", r.Backend, r.Note, r.Ours,
			verdict(r.Ours >= targetTailRead, "≥200k ops/s"))
	default:
		return fmt.Sprintf("%s\t%s: %v\t\t\t\t\t%s\t\t%s\t", r.Backend, r.Measure, r.Elapsed.Round(10*time.Millisecond), r.Note,
			verdict(r.Elapsed <= targetRewrite, "≤10s"))
	}
}

func verdict(ok bool, what string) string {
	if ok {
		return "ok (" + what + ")"
	}
	return "MISSED (" + what + ")"
}

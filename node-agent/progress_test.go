package nodeagent

import (
	"testing"
	"time"
)

func TestCatchUpProgressDue(t *testing.T) {
	start := time.Date(2026, 11, 30, 3, 0, 0, 0, time.UTC)
	tests := []struct {
		name          string
		after         time.Duration
		applied, head uint64
		want          bool
		remaining     uint64
		perSecond     float64
		eta           time.Duration
	}{
		{"too soon", 9 * time.Second, 500, 1000, false, 0, 0, 0},
		{"halfway", 10 * time.Second, 600, 1100, true, 500, 50, 10 * time.Second},
		{"no progress", 20 * time.Second, 100, 1000, true, 900, 0, 0},
		{"head behind applied", 10 * time.Second, 200, 150, true, 0, 10, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newCatchUpProgress(start, 100)
			r, ok := p.due(start.Add(tt.after), tt.applied, tt.head)
			if ok != tt.want {
				t.Fatalf("due = %v, want %v", ok, tt.want)
			}
			if ok && (r.remaining != tt.remaining || r.perSecond != tt.perSecond || r.eta != tt.eta) {
				t.Errorf("report %+v, want remaining %d, %.0f/s, eta %s", r, tt.remaining, tt.perSecond, tt.eta)
			}
		})
	}
}

package sqlkit

import (
	"errors"
	"testing"

	"github.com/whycache/whycache/pkg/logstore"
)

func rows(ids ...uint64) []Row {
	var out []Row
	idx := map[uint64]int{}
	for _, id := range ids {
		out = append(out, Row{ID: id, Index: idx[id], Op: logstore.Set([]byte{byte(id)}, nil)})
		idx[id]++
	}
	return out
}

func shape(ups []logstore.Update) []int {
	var out []int
	for _, u := range ups {
		out = append(out, int(u.ID)*100+len(u.Ops))
	}
	return out
}

func TestAssemble(t *testing.T) {
	tests := []struct {
		name           string
		rows           []Row
		limit          int
		want           []int // id*100 + number of ops
		wantIncomplete bool
	}{
		{"empty", nil, 4, nil, false},
		{"under the limit", rows(1, 2, 2), 4, []int{101, 202}, false},
		{"extra row starts a new update", rows(1, 2, 2, 3), 4, []int{101, 202}, false},
		{"last update cut", rows(1, 2, 2, 2), 4, []int{101}, false},
		{"single update cut", rows(1, 1, 1, 1), 4, []int{103}, true},
		{"limit one", rows(1, 2), 2, []int{101}, false},
		{"limit one, one big update", rows(1, 1), 2, []int{101}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ups, inc := Assemble(tt.rows, tt.limit)
			if got := shape(ups); !equalInts(got, tt.want) || inc != tt.wantIncomplete {
				t.Errorf("Assemble = %v, %v; want %v, %v", got, inc, tt.want, tt.wantIncomplete)
			}
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestCheckHorizon(t *testing.T) {
	tests := []struct {
		after, horizon uint64
		behind         bool
	}{
		{0, 0, false}, {0, 10, false}, {5, 10, true}, {10, 10, false}, {11, 10, false}, {1, 0, false},
	}
	for _, tt := range tests {
		err := CheckHorizon(tt.after, tt.horizon)
		if got := errors.Is(err, logstore.ErrBehindHorizon); got != tt.behind {
			t.Errorf("CheckHorizon(%d, %d) = %v, want behind=%v", tt.after, tt.horizon, err, tt.behind)
		}
	}
}

func TestPageLimit(t *testing.T) {
	if got := PageLimit(0); got != DefaultPageOps+1 {
		t.Errorf("PageLimit(0) = %d", got)
	}
	if got := PageLimit(7); got != 8 {
		t.Errorf("PageLimit(7) = %d", got)
	}
}

package sqlkit

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/whycache/whycache/pkg/logstore"
)

// fakeRows is a log as rows, served by a QueryFunc that counts its calls.
type fakeRows struct {
	rows    []Row
	queries int
	sent    int
}

func (f *fakeRows) query(ctx context.Context, from Pos, limit int, each func(Row) bool) (int, Pos, error) {
	f.queries++
	n := 0
	var last Pos
	for _, r := range f.rows {
		p := Pos{r.ID, r.Index}
		if !from.Less(p) {
			continue
		}
		if n == limit {
			break
		}
		n++
		f.sent++
		last = p
		if !each(r) {
			break
		}
	}
	return n, last, nil
}

// logOf builds rows for updates of the given numbers of ops, each value of
// valueSize bytes, with ids from 1.
func logOf(valueSize int, sizes ...int) []Row {
	var out []Row
	for i, n := range sizes {
		for j := range n {
			out = append(out, Row{ID: uint64(i + 1), Index: j, Op: logstore.Set([]byte("k"), make([]byte, valueSize))})
		}
	}
	return out
}

func shape(ups []logstore.Update) []int {
	out := []int{}
	for _, u := range ups {
		out = append(out, int(u.ID)*1000000+len(u.Ops))
	}
	return out
}

func TestPagerRead(t *testing.T) {
	const mb = 1 << 20
	tests := []struct {
		name      string
		rows      []Row
		after     uint64
		maxOps    int
		want      []int // id*1000000 + number of ops
		maxQuerys int
	}{
		{"empty", nil, 0, 10, []int{}, 1},
		{"all fits", logOf(1, 1, 2, 3), 0, 10, []int{1000001, 2000002, 3000003}, 1},
		{"after", logOf(1, 1, 2, 3), 1, 10, []int{2000002, 3000003}, 1},
		{"exactly maxOps", logOf(1, 1, 2, 3), 0, 3, []int{1000001, 2000002}, 1},
		{"next does not fit", logOf(1, 1, 2, 3), 0, 4, []int{1000001, 2000002}, 1},
		{"maxOps one", logOf(1, 1, 2, 3), 0, 1, []int{1000001}, 1},
		{"first update over maxOps", logOf(1, 5, 1), 0, 2, []int{1000005}, 2},
		{"huge first update", logOf(1, 30000, 1), 0, 10, []int{1030000}, 3},
		{"default page", logOf(1, make10k()...), 0, 0, tenK(), 1},
		{"stops at MinPageBytes", logOf(mb, 3, 3, 3, 3, 3, 3), 0, 100, []int{1000003, 2000003, 3000003}, 3},
		{"big first update", logOf(mb, 12, 1), 0, 100, []int{1000012}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeRows{rows: tt.rows}
			p := &Pager{Query: f.query}
			ups, err := p.Read(t.Context(), tt.after, tt.maxOps)
			if err != nil {
				t.Fatal(err)
			}
			if got := shape(ups); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("Read = %v, want %v", got, tt.want)
			}
			if f.queries > tt.maxQuerys {
				t.Errorf("%d queries, want at most %d", f.queries, tt.maxQuerys)
			}
		})
	}
}

func make10k() []int {
	s := make([]int, 10001)
	for i := range s {
		s[i] = 1
	}
	return s
}

func tenK() []int {
	s := make([]int, 10000)
	for i := range s {
		s[i] = (i+1)*1000000 + 1
	}
	return s
}

func TestPagerLearnsRowSize(t *testing.T) {
	f := &fakeRows{rows: logOf(1<<20, make10k()...)}
	p := &Pager{Query: f.query}
	after := uint64(0)
	for range 3 {
		ups, err := p.Read(t.Context(), after, 0)
		if err != nil {
			t.Fatal(err)
		}
		after = ups[len(ups)-1].ID
	}
	f.sent = 0
	if _, err := p.Read(t.Context(), after, 0); err != nil {
		t.Fatal(err)
	}
	if f.sent > 64 {
		t.Errorf("a page of 1 MiB rows fetched %d rows; want about MinPageBytes' worth", f.sent)
	}
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

func TestCheckReplayHorizon(t *testing.T) {
	tests := []struct {
		after, began, horizon uint64
		behind                bool
	}{
		{0, 5, 9, false}, {3, 9, 9, false}, {3, 5, 9, true}, {9, 5, 9, false}, {12, 5, 9, false},
	}
	for _, tt := range tests {
		err := CheckReplayHorizon(tt.after, tt.began, tt.horizon)
		if got := errors.Is(err, logstore.ErrBehindHorizon); got != tt.behind {
			t.Errorf("CheckReplayHorizon(%d, %d, %d) = %v, want behind=%v", tt.after, tt.began, tt.horizon, err, tt.behind)
		}
	}
}

func TestHeartbeatChunks(t *testing.T) {
	nodes := func(n int) []logstore.NodeProgress {
		ps := make([]logstore.NodeProgress, n)
		for i := range ps {
			ps[i] = logstore.NodeProgress{Node: fmt.Sprintf("n%d", i)}
		}
		return ps
	}
	tests := []struct {
		name    string
		ps      []logstore.NodeProgress
		chunks  []int
		invalid bool
	}{
		{"none", nil, nil, false},
		{"one", nodes(1), []int{1}, false},
		{"exactly a chunk", nodes(MaxHeartbeatRows), []int{MaxHeartbeatRows}, false},
		{"two chunks", nodes(MaxHeartbeatRows + 3), []int{MaxHeartbeatRows, 3}, false},
		{"empty name: nothing written", append(nodes(3), logstore.NodeProgress{}), nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []int
			err := HeartbeatChunks(tc.ps, func(c []logstore.NodeProgress) error { got = append(got, len(c)); return nil })
			if tc.invalid != errors.Is(err, logstore.ErrInvalid) || fmt.Sprint(got) != fmt.Sprint(tc.chunks) {
				t.Errorf("HeartbeatChunks = %v, chunks %v; want invalid %v, chunks %v", err, got, tc.invalid, tc.chunks)
			}
		})
	}
}

package nodeagent

import (
	"slices"
	"testing"
)

func TestAsideToRemove(t *testing.T) {
	tests := []struct {
		name  string
		names []string
		keep  int
		want  []string
	}{
		{"none", nil, 2, nil},
		{"under the bound", []string{"c.corrupt-10", "c.corrupt-20"}, 2, nil},
		{"oldest go", []string{"c.corrupt-30", "c.corrupt-10", "c.corrupt-20", "c.corrupt-5"}, 2, []string{"c.corrupt-10", "c.corrupt-5"}},
		{"by number, not by text", []string{"c.corrupt-9", "c.corrupt-10", "c.corrupt-100"}, 1, []string{"c.corrupt-10", "c.corrupt-9"}},
		{"foreign names stay", []string{"c.corrupt-x", "c.corrupt-1", "c.corrupt-2", "c.corrupt-"}, 1, []string{"c.corrupt-1"}},
		{"keep none", []string{"c.corrupt-1"}, 0, []string{"c.corrupt-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := asideToRemove(tt.names, tt.keep); !slices.Equal(got, tt.want) {
				t.Errorf("asideToRemove = %v, want %v", got, tt.want)
			}
		})
	}
}

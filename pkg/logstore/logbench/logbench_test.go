package logbench

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/whycache/whycache/internal/testserver"
)

func TestMain(m *testing.M) { testserver.Main(m) }

// TestRunSmall runs every measurement at a tiny size on each backend.
func TestRunSmall(t *testing.T) {
	backends := map[string]func(t *testing.T, c *Config){
		"dir":      func(t *testing.T, c *Config) {},
		"mysql":    func(t *testing.T, c *Config) { c.MySQLDSN = testserver.MySQL(t) },
		"postgres": func(t *testing.T, c *Config) { c.PostgresDSN = testserver.Postgres(t) },
	}
	for name, setup := range backends {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			cfg := Config{Backends: []string{name}, Duration: 200 * time.Millisecond, Writers: []int{1, 4},
				UpdateSizes: []int{1, 10}, RewriteRows: 3000, Dir: t.TempDir(), Out: &out}
			setup(t, &cfg)
			res, err := Run(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if len(res) != 6 {
				t.Errorf("%d results, want 4 appends, a tail read and a rewrite", len(res))
			}
			for _, r := range res {
				if r.Measure == "append" && (r.Ours <= 0 || (name != "dir") != (r.Raw > 0)) {
					t.Errorf("append result %+v: want a rate, and a raw ceiling for SQL backends only", r)
				}
			}
			for _, want := range []string{"append", "tail read", "rewrite 3000 rows"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("the table lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}

func TestRow(t *testing.T) {
	tests := []struct {
		r    Result
		want string
	}{
		{Result{Backend: "mariadb", Measure: "append", Writers: 64, Keys: 1, Ours: 600, Updates: 600, Raw: 1000}, "ok (≥50% of raw)"},
		{Result{Backend: "mariadb", Measure: "append", Writers: 64, Keys: 1, Ours: 400, Updates: 400, Raw: 1000}, "MISSED (≥50% of raw)"},
		{Result{Backend: "dir", Measure: "append", Writers: 64, Keys: 1, Ours: 400, Updates: 400}, "\t-\t-\t"},
		{Result{Backend: "dir", Measure: "tail read", Ours: 150_000, Note: "5 ops"}, "MISSED (≥200k ops/s)"},
		{Result{Backend: "dir", Measure: "rewrite 1000000 rows", Elapsed: 12 * time.Second}, "MISSED (≤10s)"},
		{Result{Backend: "dir", Measure: "rewrite 1000000 rows", Elapsed: 2 * time.Second}, "ok (≤10s)"},
	}
	for _, tt := range tests {
		if got := row(tt.r); !strings.Contains(got, tt.want) {
			t.Errorf("row(%+v) = %q, want it to contain %q", tt.r, got, tt.want)
		}
	}
}

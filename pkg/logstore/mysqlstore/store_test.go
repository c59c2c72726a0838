package mysqlstore

import (
	"database/sql"
	"os"
	"testing"

	"github.com/whycache/whycache/internal/testserver"
	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/storetest"
)

// raceScale is the conformance suite's scale under the race detector when
// $WHYCACHE_ORDERING_SCALE is unset. The suite's 16 writers use 16
// independent handles, as 16 processes would, so their appends cannot share
// transactions: each is one transaction serialised on the log's id lock.
// At full size (160,000 such transactions) the ordering test takes minutes,
// so under -race it runs at a tenth (16 writers x 1,000 updates), enough
// to catch data races and a tailer that skips a late commit; `make
// test-long` runs the ordering proof at full size without -race
// (WHYCACHE_ORDERING_SCALE=1).
const raceScale = "0.1"

func TestMain(m *testing.M) {
	if raceEnabled && os.Getenv(storetest.ScaleEnv) == "" {
		os.Setenv(storetest.ScaleEnv, raceScale)
	}
	testserver.Main(m)
}

// harness runs the conformance suite on a fresh database per namespace.
func harness() storetest.Harness {
	return storetest.Harness{
		Name: "mysql",
		NewNamespace: func(t testing.TB) storetest.Opener {
			dsn := testserver.MySQLDatabase(t)
			return func(t testing.TB, opts logstore.Options) (logstore.Store, error) {
				return Open(t.Context(), dsn, opts)
			}
		},
		InAppend: func(s logstore.Store, f func()) { s.(*Store).beforeCommit = f },
		Check: func(t testing.TB, open storetest.Opener) {
			s, err := open(t, logstore.Options{Name: "log"})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			checkTables(t, s.(*Store).db, s.(*Store).t)
		},
	}
}

func TestConformance(t *testing.T) { storetest.Run(t, harness()) }

// checkTables checks invariants that the store's tables keep: no row above
// the last id, the horizon not above it, and values NULL exactly for
// deletes.
func checkTables(t testing.TB, db *sql.DB, tb tables) {
	t.Helper()
	checks := map[string]string{
		"rows above last_id":    "SELECT COUNT(*) FROM " + tb.ops + " o, " + tb.meta + " m WHERE o.update_id > m.last_id",
		"horizon above last_id": "SELECT COUNT(*) FROM " + tb.meta + " WHERE horizon > last_id",
		"bad op_type":           "SELECT COUNT(*) FROM " + tb.ops + " WHERE op_type NOT IN (1, 2)",
		"value vs type": "SELECT COUNT(*) FROM " + tb.ops +
			" WHERE (op_type = 1 AND op_value IS NULL) OR (op_type = 2 AND op_value IS NOT NULL)",
		"meta rows": "SELECT COUNT(*) - 1 FROM " + tb.meta,
	}
	for name, q := range checks {
		var n int
		if err := db.QueryRowContext(t.Context(), q).Scan(&n); err != nil {
			t.Fatalf("check %s: %v", name, err)
		}
		if n != 0 {
			t.Errorf("check %s: %d", name, n)
		}
	}
}

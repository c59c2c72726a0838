package nodeagent_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"

	_ "github.com/go-sql-driver/mysql" // the "mysql" database/sql driver
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver

	"github.com/whycache/whycache/internal/testserver"
	"github.com/whycache/whycache/pkg/agentapi"
	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/backends"
)

func TestMain(m *testing.M) { testserver.Main(m) }

// TestDatabaseFailoverLosesTheTail fails a SQL log over, under a running
// agent, to a replica that had not received its last two updates: the
// replica holds the log as it was two updates earlier (rows and last id),
// and takes new writes under the lost ids. Acknowledged writes are applied
// (read-your-writes on the node holds), and the file ends equal to the log.
func TestDatabaseFailoverLosesTheTail(t *testing.T) {
	dbs := []struct {
		name, driver string
		url          func(t *testing.T) (storeURL, dsn string)
		failover     []string // statements, with %[1]s the ops table, %[2]s the meta table, %[3]d the id kept
	}{
		{"postgres", "pgx", func(t *testing.T) (string, string) {
			u := testserver.PostgresDatabase(t)
			return u, u
		}, []string{"DELETE FROM %[1]s WHERE update_id > %[3]d", "UPDATE %[2]s SET last_id = %[3]d"}},
		{"mariadb", "mysql", func(t *testing.T) (string, string) {
			dsn := testserver.MySQLDatabase(t)
			return "mysql:" + dsn, dsn
		}, []string{"DELETE FROM %[1]s WHERE update_id > %[3]d", "UPDATE %[2]s SET last_id = %[3]d"}},
	}
	for _, db := range dbs {
		t.Run(db.name, func(t *testing.T) {
			storeURL, dsn := db.url(t)
			open := func(ctx context.Context, opts logstore.Options) (logstore.Store, error) {
				return backends.Open(ctx, storeURL, opts)
			}
			store, err := open(t.Context(), logstore.Options{Create: true})
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			cfg := dirConfig(t, "", "n1")
			cfg.OpenStore = open
			ta := start(t, cfg)
			appendKV(t, store, "a", "1")
			kept := appendKV(t, store, "b", "1")
			appendKV(t, store, "c", "lost")
			applied := appendKV(t, store, "a", "lost")
			ta.WaitApplied(t, applied)
			waitReady(t, ta)

			sqlDB, err := sql.Open(db.driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer sqlDB.Close()
			tx, err := sqlDB.BeginTx(t.Context(), nil)
			if err != nil {
				t.Fatal(err)
			}
			prefix := "whycache_" + logstore.DefaultName
			for _, stmt := range db.failover {
				if _, err := tx.ExecContext(t.Context(), fmt.Sprintf(stmt, prefix+"_ops", prefix+"_meta", kept)); err != nil {
					t.Fatalf("%s: %v", stmt, err)
				}
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}

			ur, er := ta.update(t, agentapi.UpdateRequest{Wait: true, Ops: []agentapi.Op{{Op: "set", Key: []byte("d"), Value: []byte("new")}}})
			if er != nil {
				t.Fatalf("write after the failover: %s: %s", er.Code, er.Error)
			}
			if ur.UpdateID > applied {
				t.Fatalf("write after the failover got id %d; the test wants a reused id (<= %d)", ur.UpdateID, applied)
			}
			if got := readFileOrEmpty(ta.CachePath()); !ur.Applied || got["d"] != "new" {
				t.Fatalf("write %d acknowledged (applied=%v), but the file holds %v", ur.UpdateID, ur.Applied, got)
			}
			var last uint64
			for _, k := range []string{"e", "f", "g"} {
				last = appendKV(t, store, k, "new")
			}
			ta.WaitApplied(t, last)
			waitReady(t, ta)
			want := replay(t, store)
			if want["c"] != "" || want["a"] != "1" || want["g"] != "new" {
				t.Fatalf("the log after the failover is %v", want)
			}
			waitFor(t, "the file to equal the log", func() bool { return equalMaps(readFileOrEmpty(ta.CachePath()), want) == nil })
			if v := ta.metric(t, `whycache_agent_reused_ids_total`); v != "1" {
				t.Errorf("reused ids metric = %q, want 1", v)
			}
		})
	}
}

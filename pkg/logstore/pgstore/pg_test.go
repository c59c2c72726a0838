package pgstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/whycache/whycache/internal/testserver"
	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/backends/sqlkit/sqltest"
)

func opener(dsn string) sqltest.Opener {
	return func(ctx context.Context, opts logstore.Options) (logstore.Store, error) { return Open(ctx, dsn, opts) }
}

// terminate ends the backends of the test database that match where (a
// condition on pg_stat_activity), other than the caller's own.
func terminate(ctx context.Context, dsn, where string) (int, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity"+
		" WHERE datname = current_database() AND pid <> pg_backend_pid() AND "+where+") t").Scan(&n)
	return n, err
}

// TestConnectionKill terminates the store's connections
// (pg_terminate_backend) while appends run.
func TestConnectionKill(t *testing.T) {
	dsn := testserver.PostgresDatabase(t)
	kill := func(ctx context.Context) (int, error) { return terminate(ctx, dsn, "true") }
	sqltest.RunConnectionKill(t, opener(dsn), kill)
}

// TestConcurrentOpen creates one log from several handles at once.
func TestConcurrentOpen(t *testing.T) {
	sqltest.RunConcurrentOpen(t, opener(testserver.PostgresDatabase(t)))
}

// TestListenerReconnect terminates the listening connection and checks
// that Wait still wakes up, and soon at once again.
func TestListenerReconnect(t *testing.T) {
	dsn := testserver.PostgresDatabase(t)
	w, err := Open(t.Context(), dsn, logstore.Options{Name: "log", Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	s, err := Open(t.Context(), dsn, logstore.Options{Name: "log"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	wake := func(what string, within time.Duration) {
		t.Helper()
		latest, err := s.Latest(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := s.Wait(t.Context(), latest)
			done <- err
		}()
		time.Sleep(20 * time.Millisecond)
		start := time.Now()
		if _, err := w.Append(t.Context(), []logstore.Op{logstore.Set([]byte("k"), []byte(what))}); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("%s: Wait: %v", what, err)
			}
			t.Logf("%s: woke after %v", what, time.Since(start))
		case <-time.After(within):
			t.Fatalf("%s: Wait did not wake within %v", what, within)
		}
	}
	wake("listening", time.Second)
	n, err := terminate(t.Context(), dsn, "application_name = '"+listenerName+"'")
	if err != nil || n != 1 {
		t.Fatalf("terminated %d listeners, %v; want 1", n, err)
	}
	wake("listener just lost", 3*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := countListeners(t, dsn)
		if err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the listener did not reconnect within 10s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	wake("listening again", 500*time.Millisecond)
}

// countListeners counts the store's LISTEN connections to the test
// database.
func countListeners(t *testing.T, dsn string) (int, error) {
	return countActivity(t, dsn, "application_name = $1", listenerName)
}

// countActivity counts the connections to the test database, other than
// its own, that match the condition where.
func countActivity(t *testing.T, dsn, where string, args ...any) (int, error) {
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		return 0, err
	}
	defer conn.Close(t.Context())
	var n int
	err = conn.QueryRow(t.Context(), "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"+
		" AND pid <> pg_backend_pid() AND "+where, args...).Scan(&n)
	return n, err
}

func TestRedactDSN(t *testing.T) {
	tests := []struct{ dsn, want string }{
		{"postgres://app:s3cret@db:5432/whycache?sslmode=disable", "postgres://app:xxxxx@db:5432/whycache?sslmode=disable"},
		{"postgresql://app@db/whycache?password=s3cret", "postgresql://app@db/whycache?password=xxxxx"},
		{"postgres://app@db/whycache?sslpassword=s3cret&sslmode=verify-full", "postgres://app@db/whycache?sslmode=verify-full&sslpassword=xxxxx"},
		{"postgres://db/whycache", "postgres://db/whycache"},
		{"POSTGRES://db/whycache?b=1&a=2", "POSTGRES://db/whycache?b=1&a=2"}, // nothing to hide: unchanged
		{"host=db user=app password=s3cret dbname=whycache", "host=db user=app password=xxxxx dbname=whycache"},
		{"host=db password='s3 cret' dbname=whycache", "host=db password=xxxxx dbname=whycache"},
		{"host=db password = s3cret", "host=db password = xxxxx"},
		{"postgres://app:s3cret@db:bad port/whycache", "postgres://xxxxx"},
	}
	for _, tt := range tests {
		t.Run(tt.dsn, func(t *testing.T) {
			got := RedactDSN(tt.dsn)
			if got != tt.want {
				t.Errorf("RedactDSN = %q, want %q", got, tt.want)
			}
			sqltest.CheckNoSecret(t, "RedactDSN", got, "s3")
		})
	}
}

// TestNoPasswordInLogs checks what the store logs, and the errors of opens
// that fail, for the DSN's password. The test server trusts every local
// connection, so a password in the URL is accepted and ignored.
func TestNoPasswordInLogs(t *testing.T) {
	const secret = "pg-s3cret-word"
	dsn := strings.Replace(testserver.PostgresDatabase(t), "postgres://postgres@", "postgres://postgres:"+secret+"@", 1)
	if !strings.Contains(dsn, secret) {
		t.Fatalf("cannot put a password in %s", RedactDSN(dsn))
	}
	log, buf := sqltest.CaptureLogs()
	s, err := Open(t.Context(), dsn, logstore.Options{Name: "log", Create: true, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rewrite(t.Context(), logstore.RewriteOptions{}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if !strings.Contains(buf.String(), "opened log") {
		t.Fatalf("nothing logged: %q", buf.String())
	}
	sqltest.CheckNoSecret(t, "the log", buf.String(), secret)
	for _, bad := range []string{
		strings.Replace(dsn, "sslmode=disable", "sslmode=nonsense", 1),
		strings.Replace(dsn, "/whycache_t_", "/no_such_db_", 1),
	} {
		_, err := Open(t.Context(), bad, logstore.Options{Name: "log"})
		if err == nil {
			t.Fatalf("open of %s succeeded", RedactDSN(bad))
		}
		sqltest.CheckNoSecret(t, "the error", err.Error(), secret)
	}
}

// TestMinConns opens stores that keep three connections, asked by the
// options or by the DSN, and checks that the server sees them without a
// call: the first appends after a quiet spell must not wait for new server
// processes.
func TestMinConns(t *testing.T) {
	tests := []struct {
		name     string
		dsnParam string
		minConns int
	}{
		{"options", "", 3},
		{"DSN", "pool_min_conns=3", 0},
		{"the larger of both", "pool_min_conns=1", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dsn := testserver.PostgresDatabase(t)
			open := dsn
			if tt.dsnParam != "" {
				sep := "?"
				if strings.Contains(dsn, "?") {
					sep = "&"
				}
				open += sep + tt.dsnParam
			}
			s, err := Open(t.Context(), open, logstore.Options{Name: "log", Create: true, MinConns: tt.minConns})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			deadline := time.Now().Add(30 * time.Second)
			for {
				n, err := countActivity(t, dsn, "true")
				if err != nil {
					t.Fatal(err)
				}
				if n >= 3 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the server sees %d connections of the store 30 s after it opened, want 3", n)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
	dsn := testserver.PostgresDatabase(t)
	if _, err := Open(t.Context(), dsn, logstore.Options{Name: "log", Create: true, MinConns: -1}); !errors.Is(err, logstore.ErrInvalid) {
		t.Errorf("Open with MinConns -1: error %v, want ErrInvalid", err)
	}
}

package mysqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/whycache/whycache/internal/testserver"
	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/backends/sqlkit/sqltest"
)

func opener(dsn string) sqltest.Opener {
	return func(ctx context.Context, opts logstore.Options) (logstore.Store, error) { return Open(ctx, dsn, opts) }
}

// TestConnectionKill kills the store's connections (KILL CONNECTION) while
// appends run.
func TestConnectionKill(t *testing.T) {
	dsn := testserver.MySQLDatabase(t)
	admin, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	admin.SetMaxOpenConns(1)
	kill := func(ctx context.Context) (int, error) {
		rows, err := admin.QueryContext(ctx, "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND ID <> CONNECTION_ID()")
		if err != nil {
			return 0, err
		}
		var ids []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return 0, err
			}
			ids = append(ids, id)
		}
		rows.Close()
		n := 0
		for _, id := range ids {
			if _, err := admin.ExecContext(ctx, "KILL CONNECTION ?", id); err == nil {
				n++
			}
		}
		return n, nil
	}
	sqltest.RunConnectionKill(t, opener(dsn), kill)
}

// TestConcurrentOpen creates one log from several handles at once.
func TestConcurrentOpen(t *testing.T) {
	sqltest.RunConcurrentOpen(t, opener(testserver.MySQLDatabase(t)))
}

func TestCheckPacket(t *testing.T) {
	def := logstore.DefaultLimits()
	small := logstore.Limits{MaxKeySize: 100, MaxValueSize: 1000, MaxUpdateSize: 1 << 20, MaxUpdateOps: 10}
	tests := []struct {
		name   string
		packet int
		limits logstore.Limits
		ok     bool
	}{
		{"defaults fit 256M", 256 << 20, def, true},
		{"defaults do not fit 16M", 16 << 20, def, false},
		{"defaults need twice the largest row", 2*(def.MaxKeySize+def.MaxValueSize) + statementSlack, def, true},
		{"one byte short", 2*(def.MaxKeySize+def.MaxValueSize) + statementSlack - 1, def, false},
		{"small limits fit 1M", 1 << 20, small, true},
		{"update size bounds the row", 1 << 20, logstore.Limits{MaxKeySize: 10, MaxValueSize: 100 << 20, MaxUpdateSize: 1000, MaxUpdateOps: 1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkPacket(tt.packet, tt.limits)
			if (err == nil) != tt.ok {
				t.Fatalf("checkPacket = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "max_allowed_packet") {
				t.Errorf("error %q does not name max_allowed_packet", err)
			}
		})
	}
}

// TestMaxAllowedPacket opens a log whose limits allow updates that the
// server's max_allowed_packet (256M on the test server) cannot carry.
func TestMaxAllowedPacket(t *testing.T) {
	dsn := testserver.MySQLDatabase(t)
	lim := logstore.Limits{MaxValueSize: 200 << 20, MaxUpdateSize: 200 << 20}
	_, err := Open(t.Context(), dsn, logstore.Options{Name: "log", Create: true, Limits: lim})
	if err == nil || !strings.Contains(err.Error(), "max_allowed_packet") {
		t.Fatalf("Open with 200 MiB values = %v, want an error about max_allowed_packet", err)
	}
	t.Logf("error: %v", err)
	if _, err := Open(t.Context(), dsn, logstore.Options{Name: "log"}); !errors.Is(err, logstore.ErrNotFound) {
		t.Errorf("the refused open created the log: reopening gives %v", err)
	}
}

func TestRedactDSN(t *testing.T) {
	tests := []struct{ dsn, want string }{
		{"app:s3cret@tcp(db:3306)/whycache", "app:xxxxx@tcp(db:3306)/whycache"},
		{"app:s3cret@tcp(db:3306)/whycache?tls=true", "app:xxxxx@tcp(db:3306)/whycache?tls=true"},
		{"app@unix(/run/mysqld.sock)/whycache", "app@unix(/run/mysqld.sock)/whycache"},
		{"app:s3c:r@t@tcp(db:3306)/whycache", "app:xxxxx@tcp(db:3306)/whycache"},
		{"app:s3cret@tcp(db:3306", "app:xxxxx@tcp(db:3306"},
		{"app:s3cret@", "app:xxxxx@"},
		{"", ""}, // nothing to hide: not re-formatted with defaults
		{"app@/whycache", "app@/whycache"},
		{"app:s3cret@tcp(a:b:c)/whycache", "app:xxxxx@tcp(a:b:c)/whycache"}, // kept as written, not re-formatted
		{"app:s3/cret@tcp(db)", "app:xxxxx@tcp(db)"},                        // no database: the '/' is the password's
		{"app:s3cret@tcp(db)/whycache?x=a@b/c", "app:xxxxx@b/c"},            // split as the driver splits it: last '/', then last '@'
	}
	for _, tt := range tests {
		t.Run(tt.dsn, func(t *testing.T) {
			got := RedactDSN(tt.dsn)
			if got != tt.want {
				t.Errorf("RedactDSN = %q, want %q", got, tt.want)
			}
			sqltest.CheckNoSecret(t, "RedactDSN", got, "s3c")
		})
	}
}

// TestNoPasswordInLogs checks what the store logs, and the error of an
// open that fails, for the DSN's password.
func TestNoPasswordInLogs(t *testing.T) {
	dsn := testserver.MySQLDatabase(t)
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil || cfg.Passwd == "" {
		t.Fatalf("the test server's DSN has no password (%v)", err)
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
	sqltest.CheckNoSecret(t, "the log", buf.String(), cfg.Passwd)
	cfg.DBName = "no_such_database"
	_, err = Open(t.Context(), cfg.FormatDSN(), logstore.Options{Name: "log", Logger: log})
	if err == nil {
		t.Fatal("open of a missing database succeeded")
	}
	sqltest.CheckNoSecret(t, "the error", err.Error(), cfg.Passwd)
	if !strings.Contains(err.Error(), "xxxxx") {
		t.Errorf("the error does not show the redacted DSN: %v", err)
	}
}

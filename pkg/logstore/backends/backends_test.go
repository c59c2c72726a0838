package backends

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/whycache/whycache/internal/testserver"
	"github.com/whycache/whycache/pkg/logstore"
)

func TestMain(m *testing.M) { testserver.Main(m) }

func TestParse(t *testing.T) {
	tests := []struct {
		url      string
		kind     Kind
		location string // "" when the URL is invalid
	}{
		{"/var/lib/whycache/log", Dir, "/var/lib/whycache/log"},
		{"relative/dir", Dir, "relative/dir"},
		{"./dir:with:colons", Dir, "./dir:with:colons"},
		{`C:\whycache`, Dir, `C:\whycache`},
		{"file:///var/lib/whycache", Dir, "/var/lib/whycache"},
		{"file://localhost/srv/log", Dir, "/srv/log"},
		{"file://otherhost/srv/log", "", ""},
		{"file://", "", ""},
		{"", "", ""},
		{"mysql://app:s3cret@db.example:3307/whycache", MySQL, "app:s3cret@tcp(db.example:3307)/whycache"},
		{"mysql://app:s3cret@db.example/whycache?tls=true&timeout=5s", MySQL, "app:s3cret@tcp(db.example:3306)/whycache?tls=true&timeout=5s"},
		{"mysql://app:p%40ss%2Fw@127.0.0.1:3306/whycache", MySQL, "app:p@ss/w@tcp(127.0.0.1:3306)/whycache"},
		{"mysql://app@127.0.0.1:3306/", "", ""},
		{"mysql://app@127.0.0.1:3306/whycache?parseTime=maybe", "", ""},
		{"mysql:app:s3cret@unix(/run/mysqld/mysqld.sock)/whycache", MySQL, "app:s3cret@unix(/run/mysqld/mysqld.sock)/whycache"},
		{"mysql:app:s3cret@tcp(127.0.0.1:3306)/whycache?parseTime=true", MySQL, "app:s3cret@tcp(127.0.0.1:3306)/whycache?parseTime=true"},
		{"mysql:not a dsn", "", ""},
		{"postgres://app:s3cret@db.example:5432/whycache?sslmode=require", Postgres, "postgres://app:s3cret@db.example:5432/whycache?sslmode=require"},
		{"postgresql://app@db.example/whycache", Postgres, "postgresql://app@db.example/whycache"},
		{"redis://127.0.0.1:6379", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			got, err := Parse(tt.url)
			if tt.location == "" {
				if !errors.Is(err, logstore.ErrInvalid) {
					t.Fatalf("Parse = %+v, %v; want ErrInvalid", got, err)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("error %q shows the password", err)
				}
				return
			}
			if err != nil || got.Kind != tt.kind || got.Location != tt.location {
				t.Errorf("Parse = %+v, %v; want {%s %s}", got, err, tt.kind, tt.location)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	tests := []struct{ url, want string }{
		{"/var/lib/whycache", "/var/lib/whycache"},
		{"file:///var/lib/whycache", "file:///var/lib/whycache"},
		{"mysql://app:s3cret@db.example:3307/whycache?tls=true", "mysql://app:xxxxx@db.example:3307/whycache?tls=true"},
		{"mysql://app@db.example/whycache", "mysql://app@db.example/whycache"},
		{"mysql:app:s3cret@tcp(127.0.0.1:3306)/whycache", "mysql:app:xxxxx@tcp(127.0.0.1:3306)/whycache"},
		{"mysql:app:s3:cr@et@tcp(127.0.0.1:3306)/whycache", "mysql:app:xxxxx@tcp(127.0.0.1:3306)/whycache"},
		{"postgres://app:s3cret@db.example/whycache?sslmode=disable", "postgres://app:xxxxx@db.example/whycache?sslmode=disable"},
		{"postgresql://app@db.example/whycache?password=s3cret", "postgresql://app@db.example/whycache?password=xxxxx"},
		{"mYsql://", "mYsql://"}, // nothing to hide: unchanged, so Redact is idempotent
		{"mysql:", "mysql:"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			got := Redact(tt.url)
			if got != tt.want {
				t.Errorf("Redact = %q, want %q", got, tt.want)
			}
			if strings.Contains(got, "s3cret") || strings.Contains(got, "s3:cr@et") {
				t.Errorf("Redact kept the password: %q", got)
			}
		})
	}
}

// TestOpen opens a log in every backend through its URL.
func TestOpen(t *testing.T) {
	targets := map[string]func(t *testing.T) string{
		"path": func(t *testing.T) string { return t.TempDir() },
		"file": func(t *testing.T) string { return "file://" + t.TempDir() },
		"mysql": func(t *testing.T) string {
			return "mysql:" + testserver.MySQLDatabase(t)
		},
		"mysql URL": func(t *testing.T) string { return mysqlURL(t, testserver.MySQLDatabase(t)) },
		"postgres":  func(t *testing.T) string { return testserver.PostgresDatabase(t) },
	}
	for name, target := range targets {
		t.Run(name, func(t *testing.T) {
			u := target(t)
			s, err := Open(t.Context(), u, logstore.Options{Name: "log", Create: true})
			if err != nil {
				t.Fatalf("Open(%s): %v", Redact(u), err)
			}
			defer s.Close()
			id, err := s.Append(t.Context(), []logstore.Op{logstore.Set([]byte("k"), []byte("v"))})
			if err != nil || id != 1 {
				t.Fatalf("Append = %d, %v", id, err)
			}
		})
	}
}

// mysqlURL turns a go-sql-driver DSN user:pass@tcp(host:port)/db into
// mysql://user:pass@host:port/db.
func mysqlURL(t *testing.T, dsn string) string {
	userinfo, rest, _ := strings.Cut(dsn, "@tcp(")
	addr, db, _ := strings.Cut(rest, ")/")
	user, pass, _ := strings.Cut(userinfo, ":")
	u := url.URL{Scheme: "mysql", User: url.UserPassword(user, pass), Host: addr, Path: "/" + db}
	return u.String()
}

package backends

import (
	"errors"
	"fmt"
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
		{"relative/dir", "", ""},
		{"./dir:with:colons", "", ""},
		{`C:\whycache`, "", ""},
		{"/var/lib/../lib/whycache/", Dir, "/var/lib/whycache"},
		{"file:///var/lib/whycache", Dir, "/var/lib/whycache"},
		{"file://localhost/srv/log", Dir, "/srv/log"},
		{"file://otherhost/srv/log", "", ""},
		{"file://", "", ""},
		{"file://app:s3cret@localhost/srv/log", "", ""},
		{"file:relative", "", ""},
		{"mariadb://app:s3cret@db.example/whycache", MySQL, "app:s3cret@tcp(db.example:3306)/whycache"},
		{"mariadb:app:s3cret@tcp(db.example:3306)/whycache", "", ""},
		{"postgress://app:s3cret@db.example/whycache", "", ""},
		{"mysqll://app:s3cret@db.example/whycache", "", ""},
		{"app:s3cret@db.example/whycache", "", ""},
		{"host=db.example user=app password=s3cret dbname=whycache", Postgres, "host=db.example user=app password=s3cret dbname=whycache"},
		{"host=db.example password='s3cret' dbname=whycache sslmode=bogus", "", ""},
		{"host=db password=s3c ret dbname=whycache", "", ""},
		{"postgres://app:s3cret@db.example/whycache?sslmode=bogus", "", ""},
		// An unescaped '@' or '/' in a password: the tail would become a
		// host or a database name that drivers print.
		{"postgres://app:s3c@ret/x@db.example/whycache", "", ""},
		{"postgres://app:s3cret/x@db.example/whycache", "", ""},
		{"mysql://app:s3cret/x@db.example/whycache", "", ""},
		{"postgres://app:s3cret%zz@db.example/whycache", "", ""},
		{"postgres://app:s3c@ret@db.example/whycache", "", ""},
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
		{"relay://relay-0.whycache:7480,relay-1.whycache:7480?token-file=/var/run/token", Relay, "relay://relay-0.whycache:7480,relay-1.whycache:7480?token-file=/var/run/token"},
		{"relay://app:s3cret@relay:7480", "", ""},
		{"relay://relay:7480/db", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			got, err := Parse(tt.url)
			if tt.location == "" {
				if !errors.Is(err, logstore.ErrInvalid) {
					t.Fatalf("Parse = %+v, %v; want ErrInvalid", got, err)
				}
				if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "s3c@ret") || strings.Contains(err.Error(), "ret/x") {
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
		{"mariadb://app:s3cret@db.example/whycache", "mariadb://app:xxxxx@db.example/whycache"},
		{"postgress://app:s3cret@db.example/whycache", "postgress://app:xxxxx@db.example/whycache"},
		{"redis://:s3cret@cache/0?token=s3cret", "redis://:xxxxx@cache/0?token=xxxxx"},
		{"postgres://app:s3cret/x@db.example/whycache", "postgres://xxxxx"},
		{"postgres://app:s3cret%zz@db.example/whycache", "postgres://xxxxx"},
		{"host=db password=s3cret dbname=whycache", "host=db password=xxxxx dbname=whycache"},
		{"app:s3cret@db.example/whycache", "app:xxxxx"},
		{"app@db:s3cret", "xxxxx"},
		{"relative/dir", "relative/dir"},
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
		"postgres keyword/value": func(t *testing.T) string {
			return keywordValueDSN(t, testserver.PostgresDatabase(t))
		},
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

// keywordValueDSN turns a postgres:// URL into keyword/value pairs.
func keywordValueDSN(t *testing.T, rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	pw, _ := u.User.Password()
	kv := fmt.Sprintf("host=%s port=%s user=%s password='%s' dbname=%s",
		u.Hostname(), u.Port(), u.User.Username(), strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(pw), strings.TrimPrefix(u.Path, "/"))
	for k, vs := range u.Query() {
		kv += fmt.Sprintf(" %s=%s", k, vs[0])
	}
	return kv
}

// TestOpenHidesPasswords opens stores whose drivers fail (nothing listens,
// or the URL is malformed) and checks that no error shows the password.
func TestOpenHidesPasswords(t *testing.T) {
	for _, u := range []string{
		"postgres://app:pa/ss@w0rd@127.0.0.1:1/whycache?connect_timeout=2",
		"postgres://app:pa@ss@w0rd@127.0.0.1:1/whycache?connect_timeout=2",
		"postgres://app:pa%40ss%2Fw0rd@127.0.0.1:1/whycache?connect_timeout=2",
		"host=127.0.0.1 port=1 user=app password='pa ss/w0rd' dbname=whycache connect_timeout=2",
		"host=127.0.0.1 port=1 user=app password=pa ss/w0rd dbname=whycache",
		"mysql://app:pa/ss@w0rd@127.0.0.1:1/whycache?timeout=2s",
		"mysql://app:pa%40ss%2Fw0rd@127.0.0.1:1/whycache?timeout=2s",
		"mysql:app:pa/ss@w0rd@tcp(127.0.0.1:1)/whycache?timeout=2s",
		"mariadb://app:pa%40ss%2Fw0rd@127.0.0.1:1/whycache?timeout=2s",
	} {
		t.Run(u, func(t *testing.T) {
			_, err := Open(t.Context(), u, logstore.Options{Name: "log"})
			if err == nil {
				t.Fatal("Open succeeded")
			}
			for _, part := range []string{"pa/ss", "ss/w0rd", "w0rd", "pa@ss", "pa%40ss"} {
				if strings.Contains(err.Error(), part) {
					t.Fatalf("error %q shows %q of the password", err, part)
				}
			}
			if Redact(u) == u || strings.Contains(Redact(u), "w0rd") {
				t.Errorf("Redact(%q) = %q", u, Redact(u))
			}
		})
	}
}

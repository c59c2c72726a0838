// Package backends opens a log store from a URL, choosing the backend by its
// scheme:
//
//   - a plain path or file:///path: the local directory store (dirstore);
//   - mysql://user:password@host:port/database?param=value: MySQL or
//     MariaDB (mysqlstore); the parameters are go-sql-driver/mysql's.
//     mysql:user:password@tcp(host:port)/database (the driver's own DSN
//     after "mysql:") works too, for sockets and other networks;
//   - postgres://... or postgresql://...: PostgreSQL (pgstore), any URL
//     that pgx accepts.
//
// [Redact] hides the passwords of such a URL, for logs and errors.
package backends

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/go-sql-driver/mysql"

	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/dirstore"
	"github.com/whycache/whycache/pkg/logstore/mysqlstore"
	"github.com/whycache/whycache/pkg/logstore/pgstore"
)

// Kind names a backend.
type Kind string

// The backends.
const (
	Dir      Kind = "dir"
	MySQL    Kind = "mysql"
	Postgres Kind = "postgres"
)

// Target is a parsed store URL: the backend and what its Open takes (a
// directory, a go-sql-driver/mysql DSN or a pgx URL).
type Target struct {
	Kind Kind
	// Location is the directory, the driver DSN, or the pgx URL.
	Location string
}

// Open opens the log opts.Name in the store that rawURL names.
func Open(ctx context.Context, rawURL string, opts logstore.Options) (logstore.Store, error) {
	t, err := Parse(rawURL)
	if err != nil {
		return nil, err
	}
	switch t.Kind {
	case Dir:
		return dirstore.Open(ctx, t.Location, opts)
	case MySQL:
		return mysqlstore.Open(ctx, t.Location, opts)
	default:
		return pgstore.Open(ctx, t.Location, opts)
	}
}

// Parse tells the backend of a store URL and converts it to what the
// backend's Open takes. Errors never hold the password.
func Parse(rawURL string) (Target, error) {
	scheme, rest, hasScheme := strings.Cut(rawURL, ":")
	if !hasScheme || strings.ContainsAny(scheme, `/\.`) || len(scheme) < 2 {
		// A plain path (a one-letter "scheme" is a Windows drive).
		if rawURL == "" {
			return Target{}, fmt.Errorf("empty log store URL: %w", logstore.ErrInvalid)
		}
		return Target{Kind: Dir, Location: rawURL}, nil
	}
	switch strings.ToLower(scheme) {
	case "file":
		return fileTarget(rawURL)
	case "mysql":
		if strings.HasPrefix(rest, "//") {
			return mysqlURLTarget(rawURL)
		}
		if _, err := mysql.ParseDSN(rest); err != nil {
			return Target{}, fmt.Errorf("log store URL %s: %v: %w", Redact(rawURL), err, logstore.ErrInvalid)
		}
		return Target{Kind: MySQL, Location: rest}, nil
	case "postgres", "postgresql":
		return Target{Kind: Postgres, Location: rawURL}, nil
	}
	return Target{}, fmt.Errorf("log store URL %s: unknown scheme %q (want a path, file://, mysql:// or postgres://): %w",
		Redact(rawURL), scheme, logstore.ErrInvalid)
}

func fileTarget(rawURL string) (Target, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return Target{}, fmt.Errorf("log store URL %q: %v: %w", rawURL, err, logstore.ErrInvalid)
	}
	if u.Host != "" && u.Host != "localhost" {
		return Target{}, fmt.Errorf("log store URL %q: file URLs name a local path (file:///path): %w", rawURL, logstore.ErrInvalid)
	}
	if u.Path == "" {
		return Target{}, fmt.Errorf("log store URL %q has no path: %w", rawURL, logstore.ErrInvalid)
	}
	return Target{Kind: Dir, Location: u.Path}, nil
}

// mysqlURLTarget converts mysql://user:password@host:port/db?params to a
// go-sql-driver/mysql DSN.
func mysqlURLTarget(rawURL string) (Target, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return Target{}, fmt.Errorf("log store URL %s: cannot parse: %w", Redact(rawURL), logstore.ErrInvalid)
	}
	cfg := mysql.NewConfig()
	cfg.User = u.User.Username()
	cfg.Passwd, _ = u.User.Password()
	cfg.Net = "tcp"
	cfg.Addr = u.Host
	if u.Port() == "" && u.Host != "" {
		cfg.Addr = u.Host + ":3306"
	}
	cfg.DBName = strings.TrimPrefix(u.Path, "/")
	if cfg.DBName == "" || strings.Contains(cfg.DBName, "/") {
		return Target{}, fmt.Errorf("log store URL %s: want one database name as the path: %w", Redact(rawURL), logstore.ErrInvalid)
	}
	dsn := cfg.FormatDSN()
	if u.RawQuery != "" {
		dsn += "?" + u.RawQuery
	}
	if _, err := mysql.ParseDSN(dsn); err != nil {
		return Target{}, fmt.Errorf("log store URL %s: %v: %w", Redact(rawURL), err, logstore.ErrInvalid)
	}
	return Target{Kind: MySQL, Location: dsn}, nil
}

// Redact returns a store URL with its passwords replaced, for logs and
// errors.
func Redact(rawURL string) string {
	scheme, rest, ok := strings.Cut(rawURL, ":")
	if !ok {
		return rawURL
	}
	switch strings.ToLower(scheme) {
	case "mysql":
		if strings.HasPrefix(rest, "//") {
			return redactURL(rawURL)
		}
		return scheme + ":" + mysqlstore.RedactDSN(rest)
	case "postgres", "postgresql":
		return pgstore.RedactDSN(rawURL)
	}
	return rawURL
}

// redactURL replaces the password in the user information of a URL (the
// MySQL driver has no password parameter).
func redactURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		scheme, _, _ := strings.Cut(rawURL, ":")
		return scheme + "://xxxxx"
	}
	if _, ok := u.User.Password(); !ok {
		// Nothing to hide: return the input as it was, so that Redact
		// is idempotent (url.URL.String normalises what it prints).
		return rawURL
	}
	u.User = url.UserPassword(u.User.Username(), "xxxxx")
	return u.String()
}

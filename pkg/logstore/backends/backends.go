// Package backends opens a log store from a URL, choosing the backend by its
// scheme:
//
//   - an absolute path, or file:///path: the local directory store
//     (dirstore). A relative path is rejected: a store URL with a typo
//     (a missing scheme, a misspelt one) must not silently become a
//     directory of that name on one node;
//   - mysql://user:password@host:port/database?param=value (or mariadb://):
//     MySQL or MariaDB (mysqlstore); the parameters are
//     go-sql-driver/mysql's. mysql:user:password@tcp(host:port)/database
//     (the driver's own DSN after "mysql:") works too, for sockets and
//     other networks;
//   - postgres://... or postgresql://...: PostgreSQL (pgstore), any URL
//     that pgx accepts, or a PostgreSQL keyword/value connection string
//     ("host=db user=app password=... dbname=whycache");
//   - relay://host:port[,host2:port...][?token-file=PATH&tls=true&ca-file=PATH]:
//     whycache relays in front of a store (relaystore), for fleets too
//     large for every node to reach the database itself.
//
// Reserved characters in a URL's user name or password (@ / ? # % :) must
// be percent-encoded; a URL with an '@' after its host is rejected, because
// it usually means an unescaped '@' in the password, and a driver would
// otherwise take the password's tail for a host or database name and print
// it in its errors.
//
// [Redact] hides the passwords of such a URL, for logs and errors, and every
// error that [Parse] and [Open] return is redacted, including the drivers'.
package backends

import (
	"context"

	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/dirstore"
	"github.com/whycache/whycache/pkg/logstore/mysqlstore"
	"github.com/whycache/whycache/pkg/logstore/pgstore"
	"github.com/whycache/whycache/pkg/logstore/relaystore"
)

// Kind names a backend.
type Kind string

// The backends.
const (
	Dir      Kind = "dir"
	MySQL    Kind = "mysql"
	Postgres Kind = "postgres"
	Relay    Kind = "relay"
)

// Target is a parsed store URL: the backend and what its Open takes (a
// directory, a go-sql-driver/mysql DSN or a pgx connection string).
type Target struct {
	Kind Kind
	// Location is the directory, the driver DSN, the pgx connection
	// string, or the relay URL. It holds the password: never print it (print [Redact] of the
	// URL instead).
	Location string
	// passwords are the forms of the password that a driver may echo
	// (decoded and as written), removed from every error of Open.
	passwords []string
}

// Open opens the log opts.Name in the store that rawURL names. Its errors
// never hold the URL's password, even when the driver's do.
func Open(ctx context.Context, rawURL string, opts logstore.Options) (logstore.Store, error) {
	t, err := Parse(rawURL)
	if err != nil {
		return nil, err
	}
	var s logstore.Store
	switch t.Kind {
	case Dir:
		s, err = dirstore.Open(ctx, t.Location, opts)
	case MySQL:
		s, err = mysqlstore.Open(ctx, t.Location, opts)
	case Relay:
		s, err = relaystore.Open(ctx, t.Location, opts)
	default:
		s, err = pgstore.Open(ctx, t.Location, opts)
	}
	if err != nil {
		return nil, RedactError(err, t.passwords)
	}
	return s, nil
}

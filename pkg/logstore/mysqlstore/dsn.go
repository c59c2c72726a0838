package mysqlstore

import (
	"fmt"
	"strings"

	"github.com/go-logr/logr"
	"github.com/go-sql-driver/mysql"
)

// redacted replaces passwords in DSNs that are logged or shown.
const redacted = "xxxxx"

// RedactDSN returns dsn with its password replaced, for logs and errors.
//
// It splits the DSN where the driver's ParseDSN does, and changes nothing
// else: the password is what lies between the first ':' and the last '@'
// before the last '/' ([user[:password]@][net[(addr)]]/dbname). A DSN with
// no '@' before its last '/' is malformed; then the last '@' of the whole
// DSN ends the password, in case the password holds the '/'. Re-formatting
// the parsed DSN instead would fill in defaults and, for odd addresses,
// change it on each pass.
func RedactDSN(dsn string) string {
	at := -1
	if slash := strings.LastIndexByte(dsn, '/'); slash >= 0 {
		at = strings.LastIndexByte(dsn[:slash], '@')
	}
	if at < 0 {
		at = strings.LastIndexByte(dsn, '@')
	}
	if at < 0 {
		return dsn
	}
	colon := strings.IndexByte(dsn[:at], ':')
	if colon < 0 {
		return dsn
	}
	return dsn[:colon+1] + redacted + dsn[at:]
}

// driverConfig parses dsn and sets what the store relies on: arguments
// inline in the statement text and several statements per round trip (an
// append transaction is one round trip), times in UTC, and
// max_allowed_packet read from the server.
func driverConfig(dsn string, log logr.Logger) (*mysql.Config, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse DSN %s: %w", RedactDSN(dsn), err)
	}
	if cfg.DBName == "" {
		return nil, fmt.Errorf("DSN %s names no database", RedactDSN(dsn))
	}
	cfg.InterpolateParams = true
	cfg.ParseTime = true
	cfg.Loc = timeUTC
	cfg.MaxAllowedPacket = 0
	cfg.MultiStatements = true
	cfg.Logger = driverLogger{log}
	return cfg, nil
}

// driverLogger passes the driver's messages (lost connections, mostly) to
// the store's logger.
type driverLogger struct{ log logr.Logger }

func (l driverLogger) Print(v ...any) {
	l.log.V(1).Info("mysql driver", "message", fmt.Sprint(v...))
}

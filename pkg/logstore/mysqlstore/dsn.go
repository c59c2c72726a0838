package mysqlstore

import (
	"fmt"
	"regexp"

	"github.com/go-logr/logr"
	"github.com/go-sql-driver/mysql"
)

// redacted replaces passwords in DSNs that are logged or shown.
const redacted = "xxxxx"

// passwordRE finds the password of a DSN that does not parse:
// user:password@ up to the last @ before the address.
var passwordRE = regexp.MustCompile(`^([^:@/]*):.*@`)

// RedactDSN returns dsn with its password replaced, for logs and errors.
func RedactDSN(dsn string) string {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return passwordRE.ReplaceAllString(dsn, "${1}:"+redacted+"@")
	}
	if cfg.Passwd == "" {
		// Nothing to hide: FormatDSN would fill in defaults, and a
		// redaction must not rewrite what it does not hide.
		return dsn
	}
	cfg.Passwd = redacted
	return cfg.FormatDSN()
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

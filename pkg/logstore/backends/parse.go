package backends

import (
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/go-sql-driver/mysql"

	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/pgstore"
	"github.com/whycache/whycache/pkg/logstore/relaystore"
)

var (
	// schemeRE is a URL scheme (RFC 3986) followed by its colon.
	schemeRE = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]*):`)
	// keywordValueRE is how a PostgreSQL keyword/value connection string
	// starts.
	keywordValueRE = regexp.MustCompile(`^\s*[A-Za-z_]+\s*=`)
)

// wantForms lists the accepted forms, for errors.
const wantForms = "want an absolute path, file:///path, mysql://, mariadb://, mysql:<driver DSN>, postgres://, a PostgreSQL keyword/value string or relay://"

// Parse tells the backend of a store URL and converts it to what the
// backend's Open takes. Its errors wrap [logstore.ErrInvalid] and never hold
// the password: they show the URL only as [Redact] does.
func Parse(rawURL string) (Target, error) {
	switch {
	case rawURL == "":
		return Target{}, fmt.Errorf("empty log store URL: %w", logstore.ErrInvalid)
	case strings.HasPrefix(rawURL, "/"):
		return Target{Kind: Dir, Location: filepath.Clean(rawURL)}, nil
	case keywordValueRE.MatchString(rawURL):
		return keywordValueTarget(rawURL)
	}
	m := schemeRE.FindStringSubmatch(rawURL)
	if m == nil {
		return Target{}, invalid(rawURL, "not an absolute path or a URL ("+wantForms+")")
	}
	rest := rawURL[len(m[0]):]
	switch scheme := strings.ToLower(m[1]); scheme {
	case "file":
		return fileTarget(rawURL)
	case "mysql", "mariadb":
		if strings.HasPrefix(rest, "//") {
			return mysqlURLTarget(rawURL)
		}
		if scheme == "mysql" {
			return mysqlDSNTarget(rawURL, rest)
		}
	case "postgres", "postgresql":
		return postgresURLTarget(rawURL)
	case "relay":
		if _, err := relaystore.ParseURL(rawURL); err != nil {
			return Target{}, err
		}
		return Target{Kind: Relay, Location: rawURL}, nil
	}
	return Target{}, invalid(rawURL, fmt.Sprintf("unknown scheme %q (%s)", m[1], wantForms))
}

// invalid returns the error for a store URL that cannot be used: the
// redacted URL, why, and ErrInvalid.
func invalid(rawURL, why string) error {
	return fmt.Errorf("log store URL %s: %s: %w", Redact(rawURL), why, logstore.ErrInvalid)
}

func fileTarget(rawURL string) (Target, error) {
	u, err := parseURL(rawURL)
	if err != nil {
		return Target{}, err
	}
	if u.User != nil || (u.Host != "" && u.Host != "localhost") {
		return Target{}, invalid(rawURL, "file URLs name a local path (file:///path)")
	}
	if !strings.HasPrefix(u.Path, "/") {
		return Target{}, invalid(rawURL, "want an absolute path (file:///path)")
	}
	return Target{Kind: Dir, Location: filepath.Clean(u.Path)}, nil
}

// parseURL parses a URL with a host, rejecting what would make the
// password's end ambiguous. url.Parse's errors are not passed on: they quote
// the whole URL.
func parseURL(rawURL string) (*url.URL, error) {
	if ambiguousUserinfo(rawURL) {
		return nil, invalid(rawURL, "more than one '@', or a '#': percent-encode '@', '/', '?' and '#' in the user name and password (%40, %2F, %3F, %23)")
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, invalid(rawURL, "cannot parse as a URL: percent-encode reserved characters in the user name and password (@ / ? # % :)")
	}
	if _, err := url.ParseQuery(u.RawQuery); err != nil {
		return nil, invalid(rawURL, "cannot parse the URL's parameters: percent-encode reserved characters in their values (% & = #)")
	}
	return u, nil
}

// ambiguousUserinfo tells whether a URL has an '@' after its authority (the
// part after "//" up to the first '/', '?' or '#'), two in it, or a '#'. A URL parser
// ends the authority at the first '/', so an unescaped '/' in a password
// turns its tail into the path, and a driver would print it in its errors;
// no store URL has a fragment, so a '#' is an unescaped one in a password
// or a parameter.
func ambiguousUserinfo(rawURL string) bool {
	_, rest, ok := strings.Cut(rawURL, "//")
	if !ok {
		return false
	}
	if strings.Contains(rest, "#") {
		return true
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	// Parsers disagree on which of two '@' ends the user information
	// (Go's net/url takes the last, pgx the first).
	return strings.Count(rest[:end], "@") > 1 || strings.Contains(rest[end:], "@")
}

// urlPasswords returns the forms of a URL's password that a driver may
// echo: decoded and as written.
func urlPasswords(rawURL string, u *url.URL) []string {
	var out []string
	if pw, ok := u.User.Password(); ok {
		out = append(out, pw, url.QueryEscape(pw), url.PathEscape(pw))
		out = append(out, rawURLPassword(rawURL))
	}
	for k, vs := range u.Query() {
		if secretParam(k) {
			for _, v := range vs {
				out = append(out, v, url.QueryEscape(v))
			}
		}
	}
	for pair := range strings.SplitSeq(u.RawQuery, "&") {
		k, v, _ := strings.Cut(pair, "=")
		if dk, err := url.QueryUnescape(k); err == nil && secretParam(dk) {
			out = append(out, v) // as written
		}
	}
	return out
}

// rawURLPassword returns a URL's password as written (not decoded): the
// text between the first ':' and the last '@' of the authority.
func rawURLPassword(rawURL string) string {
	_, rest, _ := strings.Cut(rawURL, "//")
	if end := strings.IndexAny(rest, "/?#"); end >= 0 {
		rest = rest[:end]
	}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		_, pw, _ := strings.Cut(rest[:at], ":")
		return pw
	}
	return ""
}

// mysqlURLTarget converts mysql://user:password@host:port/db?params to a
// go-sql-driver/mysql DSN.
func mysqlURLTarget(rawURL string) (Target, error) {
	u, err := parseURL(rawURL)
	if err != nil {
		return Target{}, err
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
		return Target{}, invalid(rawURL, "want one database name as the path")
	}
	dsn := cfg.FormatDSN()
	if u.RawQuery != "" {
		dsn += "?" + u.RawQuery
	}
	pws := urlPasswords(rawURL, u)
	if _, err := mysql.ParseDSN(dsn); err != nil {
		return Target{}, invalid(rawURL, RedactError(err, pws).Error())
	}
	return Target{Kind: MySQL, Location: dsn, passwords: pws}, nil
}

// mysqlDSNTarget takes mysql:<go-sql-driver DSN>.
func mysqlDSNTarget(rawURL, dsn string) (Target, error) {
	if ambiguousDSN(dsn) {
		return Target{}, invalid(rawURL, "an '@' after the last '/': a '/' in the password? The driver takes everything after the last '/' for the database name and parameters")
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return Target{}, invalid(rawURL, RedactError(err, dsnPasswords(dsn)).Error())
	}
	return Target{Kind: MySQL, Location: dsn, passwords: dsnPasswords(dsn, cfg.Passwd)}, nil
}

// ambiguousDSN tells whether a go-sql-driver DSN has an '@' after its last
// '/', where the driver would read the tail of a password with a '/' in it
// as the database name.
func ambiguousDSN(dsn string) bool {
	slash := strings.LastIndexByte(dsn, '/')
	return slash >= 0 && strings.Contains(dsn[slash:], "@")
}

// dsnPasswords returns the password of a go-sql-driver DSN as its driver
// finds it (the user information ends at the last '@' before the last '/')
// and as a looser reading would (up to the last '@'), and the extra ones
// given: a DSN that the driver rejects has no certain password.
func dsnPasswords(dsn string, extra ...string) []string {
	out := extra
	ats := []int{strings.LastIndexByte(dsn, '@')}
	if slash := strings.LastIndexByte(dsn, '/'); slash >= 0 {
		ats = append(ats, strings.LastIndexByte(dsn[:slash], '@'))
	}
	for _, at := range ats {
		if at < 0 {
			continue
		}
		if _, pw, ok := strings.Cut(dsn[:at], ":"); ok {
			out = append(out, pw)
		}
	}
	return out
}

func postgresURLTarget(rawURL string) (Target, error) {
	u, err := parseURL(rawURL)
	if err != nil {
		return Target{}, err
	}
	pws := urlPasswords(rawURL, u)
	if err := pgstore.CheckDSN(rawURL); err != nil {
		return Target{}, invalid(rawURL, RedactError(err, pws).Error())
	}
	return Target{Kind: Postgres, Location: rawURL, passwords: pws}, nil
}

// keywordValueTarget takes a PostgreSQL keyword/value connection string.
func keywordValueTarget(dsn string) (Target, error) {
	pws, err := keywordValuePasswords(dsn)
	if err != nil {
		return Target{}, invalid(dsn, "PostgreSQL keyword/value string: "+err.Error())
	}
	if err := pgstore.CheckDSN(dsn); err != nil {
		return Target{}, invalid(dsn, RedactError(err, pws).Error())
	}
	return Target{Kind: Postgres, Location: dsn, passwords: pws}, nil
}

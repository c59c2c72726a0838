package pgstore

import (
	"errors"
	"net/url"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
)

// redacted replaces passwords in DSNs that are logged or shown.
const redacted = "xxxxx"

// kvPasswordRE finds password=... in a keyword/value connection string,
// quoted or not.
var kvPasswordRE = regexp.MustCompile(`(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s]+)`)

// paramRE is a server setting's name.
var paramRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*$`)

// RedactDSN returns a PostgreSQL connection string (a URL or keyword/value
// pairs) with its passwords replaced, for logs and errors.
func RedactDSN(dsn string) string {
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return kvPasswordRE.ReplaceAllString(dsn, "${1}"+redacted)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return scheme(dsn) + "://" + redacted
	}
	hid := false
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), redacted)
		hid = true
	}
	q := u.Query()
	for _, k := range []string{"password", "sslpassword"} {
		if q.Has(k) {
			q.Set(k, redacted)
			u.RawQuery = q.Encode()
			hid = true
		}
	}
	if !hid {
		// Nothing to hide: keep the input as it was (String normalises).
		return dsn
	}
	return u.String()
}

// redactErr returns err with every password of dsn removed from its
// message. pgx already redacts its parse errors; this makes sure.
func redactErr(err error, dsn string) error {
	msg := err.Error()
	for _, pw := range passwords(dsn) {
		msg = strings.ReplaceAll(msg, pw, redacted)
	}
	return errors.New(msg)
}

// passwords returns the passwords that dsn holds.
func passwords(dsn string) []string {
	var out []string
	if u, err := url.Parse(dsn); err == nil && strings.Contains(dsn, "://") {
		if pw, ok := u.User.Password(); ok && pw != "" {
			out = append(out, pw, url.QueryEscape(pw))
		}
		for _, k := range []string{"password", "sslpassword"} {
			if v := u.Query().Get(k); v != "" {
				out = append(out, v)
			}
		}
	}
	for _, m := range kvPasswordRE.FindAllStringSubmatch(dsn, -1) {
		out = append(out, strings.Trim(m[2], "'"))
	}
	return out
}

func scheme(dsn string) string {
	s, _, _ := strings.Cut(dsn, "://")
	return s
}

// CheckDSN tells whether pgx accepts a connection string (a URL or
// keyword/value pairs), without connecting. Its error holds none of the
// string's passwords.
func CheckDSN(dsn string) error {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err == nil {
		for k := range cfg.ConnConfig.RuntimeParams {
			if !paramRE.MatchString(k) {
				// pgx passes unknown keywords to the server as
				// settings; one that is no name is a quoting mistake
				// (often in a password), which the server would
				// print back.
				return errors.New("a keyword that is not a name: quote values that hold spaces or quotes ('...', with \\' and \\\\ inside)")
			}
		}
		return nil
	}
	// pgx's parse errors quote the whole string, redacted as well as it
	// can tell the password's end, which an unparsable string does not
	// tell: keep only what follows the quote.
	msg := err.Error()
	if i := strings.LastIndex(msg, "`: "); strings.HasPrefix(msg, "cannot parse `") && i >= 0 {
		msg = msg[i+len("`: "):]
	}
	return redactErr(errors.New(msg), dsn)
}

// DSNPasswords returns the passwords that a connection string holds, for
// callers that remove them from other errors.
func DSNPasswords(dsn string) []string { return passwords(dsn) }

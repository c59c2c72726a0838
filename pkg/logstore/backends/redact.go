package backends

import (
	"context"
	"errors"
	"net/url"
	"strings"

	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/mysqlstore"
	"github.com/whycache/whycache/pkg/logstore/pgstore"
)

// mask replaces a password.
const mask = "xxxxx"

// Redact returns a store URL with its passwords replaced, for logs and
// errors. What it cannot parse it hides whole (a keyword/value string that
// pgx rejects, a URL that does not parse or whose password's end is
// ambiguous): an absolute path is shown as
// it is, a string that is neither a path nor a URL with a host only when it
// has no ':', '@' or '=' (nothing that could separate a password).
// Redact is idempotent.
func Redact(rawURL string) string {
	if strings.HasPrefix(rawURL, "/") {
		return rawURL
	}
	if keywordValueRE.MatchString(rawURL) {
		if _, err := keywordValuePasswords(rawURL); err != nil || pgstore.CheckDSN(rawURL) != nil {
			// Where the password ends is not certain.
			return mask
		}
		return pgstore.RedactDSN(rawURL)
	}
	m := schemeRE.FindStringSubmatch(rawURL)
	if m == nil {
		return redactOpaque(rawURL)
	}
	rest := rawURL[len(m[0]):]
	switch {
	case strings.HasPrefix(rest, "//"):
		return redactURL(rawURL, m[1])
	case strings.EqualFold(m[1], "mysql") && ambiguousDSN(rest):
		return m[0] + mask
	case strings.EqualFold(m[1], "mysql"):
		return m[0] + mysqlstore.RedactDSN(rest)
	}
	return m[0] + redactOpaque(rest)
}

// redactOpaque shows a string only when nothing in it could separate a
// password.
func redactOpaque(s string) string {
	if strings.ContainsAny(s, ":@=") {
		return mask
	}
	return s
}

// redactURL replaces the password in the user information of a URL and in
// its query parameters that hold secrets. A URL whose password's end is
// ambiguous, or that does not parse, is hidden after its scheme.
func redactURL(rawURL, scheme string) string {
	if ambiguousUserinfo(rawURL) {
		return scheme + "://" + mask
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return scheme + "://" + mask
	}
	hid := false
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), mask)
		hid = true
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		// Where a value ends is not certain.
		u.RawQuery = mask
		q, hid = nil, true
	}
	secretQuery := false
	for k := range q {
		if secretParam(k) {
			q.Set(k, mask)
			secretQuery = true
		}
	}
	hid = hid || secretQuery
	if !hid {
		// Nothing to hide: return the input as it was, so that Redact
		// is idempotent (url.URL.String normalises what it prints).
		return rawURL
	}
	if secretQuery {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// secretParam tells whether a URL query parameter holds a secret (password,
// sslpassword, and the like).
func secretParam(key string) bool {
	k := strings.ToLower(key)
	return strings.Contains(k, "pass") || strings.Contains(k, "secret") || strings.Contains(k, "token")
}

// RedactError returns err with every password given removed from its
// message, for drivers that echo their connection string. errors.Is still
// finds the logstore and context sentinels that err wraps; the original
// error is not reachable through it (its text holds the password).
// Passwords shorter than 3 bytes are left alone: hiding them would garble
// the message and hide nothing worth hiding.
func RedactError(err error, passwords []string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, pw := range passwords {
		msg = removeAll(msg, pw)
	}
	if msg == err.Error() {
		return err
	}
	return &redactedError{msg: msg, sentinels: sentinelsOf(err)}
}

// removeAll replaces pw in s until none is left: a replacement can join
// with its neighbours into a new occurrence.
func removeAll(s, pw string) string {
	if len(pw) < 3 || strings.Trim(pw, "x") == "" {
		return s
	}
	for strings.Contains(s, pw) {
		s = strings.ReplaceAll(s, pw, mask)
	}
	return s
}

// sentinels are the errors that callers of Open test with errors.Is.
var sentinels = []error{
	logstore.ErrNotFound, logstore.ErrBehindHorizon, logstore.ErrTooLarge, logstore.ErrInvalid,
	logstore.ErrIdentityMismatch, logstore.ErrClosed, context.Canceled, context.DeadlineExceeded,
}

func sentinelsOf(err error) []error {
	var out []error
	for _, s := range sentinels {
		if errors.Is(err, s) {
			out = append(out, s)
		}
	}
	return out
}

// redactedError is an error whose message had passwords removed.
type redactedError struct {
	msg       string
	sentinels []error
}

func (e *redactedError) Error() string   { return e.msg }
func (e *redactedError) Unwrap() []error { return e.sentinels }

package backends

import (
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary strings to Parse and Redact: they must never
// panic, Parse's errors must never hold a password that Redact hides, and
// Redact must be idempotent.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"/var/lib/whycache/log", "file:///var/lib/log", "mysql://u:secret@db:3306/whycache?tls=true",
		"mysql:u:secret@tcp(db:3306)/whycache", "postgres://u:secret@db/whycache?sslmode=disable",
		"postgresql://db/x", "redis://x", "mysql://%zz", "postgres://u:p@[::1", ":", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		red := Redact(raw)
		if Redact(red) != red {
			t.Fatalf("Redact is not idempotent on %q: %q then %q", raw, red, Redact(red))
		}
		_, err := Parse(raw)
		if err == nil {
			return
		}
		// The error must not leak what Redact hid. The password's text
		// may also be another part of the URL (a host "0000" beside the
		// password "0000"), or of the message; it leaks only when neither
		// the redacted URL nor the error for the redacted URL holds it.
		pw := hiddenPassword(raw, red)
		if pw == "" || !strings.Contains(err.Error(), pw) || strings.Contains(red, pw) {
			return
		}
		if _, err2 := Parse(red); err2 != nil && strings.Contains(err2.Error(), pw) {
			return
		}
		t.Fatalf("Parse(%q) error %q holds the password %q", raw, err, pw)
	})
}

// hiddenPassword returns the password Redact removed from a URL of the form
// scheme://user:password@..., when it is long enough to search for.
func hiddenPassword(raw, redacted string) string {
	if raw == redacted {
		return ""
	}
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return ""
	}
	userinfo, _, ok := strings.Cut(rest, "@")
	if !ok {
		return ""
	}
	_, pw, ok := strings.Cut(userinfo, ":")
	if !ok || len(pw) < 4 {
		return ""
	}
	return pw
}

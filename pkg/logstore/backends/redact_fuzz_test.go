package backends

import (
	"errors"
	"strings"
	"testing"

	"github.com/whycache/whycache/pkg/logstore"
)

// urlForms build a store URL around a user, a password written as it is
// (unescaped, as a user would paste it), a host and a tail.
var urlForms = []func(user, pw, host, tail string) string{
	func(u, p, h, t string) string { return "postgres://" + u + ":" + p + "@" + h + "/db" + t },
	func(u, p, h, t string) string { return "postgresql://" + u + ":" + p + "@" + h + t },
	func(u, p, h, t string) string { return "postgress://" + u + ":" + p + "@" + h + t },
	func(u, p, h, t string) string { return "mysql://" + u + ":" + p + "@" + h + "/db" + t },
	func(u, p, h, t string) string { return "mariadb://" + u + ":" + p + "@" + h + t },
	func(u, p, h, t string) string { return "mysql:" + u + ":" + p + "@tcp(" + h + ")/db" + t },
	func(u, p, h, t string) string { return "mysql:" + u + ":" + p + "@" + h + t },
	func(u, p, h, t string) string { return "file://" + u + ":" + p + "@" + h + t },
	func(u, p, h, t string) string { return "redis://" + u + ":" + p + "@" + h + t },
	func(u, p, h, t string) string { return u + ":" + p + "@" + h + t },
	func(u, p, h, t string) string {
		return "host=" + h + " user=" + u + " password=" + p + " dbname=db" + t
	},
	func(u, p, h, t string) string { return "host=" + h + " password='" + p + "'" + t },
	func(u, p, h, t string) string {
		return "postgres://" + u + "@" + h + "/db?sslmode=disable&password=" + p + t
	},
}

// unquotedKeywordValue is the form of urlForms with an unquoted password.
const unquotedKeywordValue = 10

// queryPassword is the form of urlForms with the password as a parameter.
const queryPassword = 12

// FuzzRedaction builds store URLs around a password and checks that the
// password appears in none of what is shown: Redact's result, Parse's
// error, and a driver error that echoes the connection string or the
// password once it went through RedactError.
func FuzzRedaction(f *testing.F) {
	for i := range urlForms {
		f.Add(uint8(i), "app", "s3cr3t-pw", "db.example:5432", "?sslmode=disable", "connect to ")
	}
	f.Add(uint8(0), "app", "pa/ss@w0rd", "127.0.0.1:1", "", "failed to connect: ")
	f.Add(uint8(3), "app", "p?ss#w@rd", "db", "", "")
	f.Add(uint8(10), "app", "it's a secret", "db", " sslmode=disable", "")
	f.Add(uint8(11), "app", `a\'b c`, "db", "", "")
	f.Fuzz(func(t *testing.T, form uint8, user, pw, host, tail, errText string) {
		build := urlForms[int(form)%len(urlForms)]
		switch int(form) % len(urlForms) {
		case unquotedKeywordValue, unquotedKeywordValue + 1:
			if strings.ContainsAny(user+host+tail, `'\`) {
				// A quote in another value can swallow the password
				// (then it is that value, not a password).
				return
			}
		}
		if int(form)%len(urlForms) == queryPassword && strings.ContainsAny(pw, "&#%+") {
			return // unescaped, the password is another one
		}
		if int(form)%len(urlForms) == unquotedKeywordValue && strings.ContainsAny(pw, " \t\n\r'\\") {
			// Unquoted, such a password is another one and more
			// keywords ("password=a b=c" is the password "a").
			return
		}
		raw := build(user, pw, host, tail)
		if strings.HasPrefix(raw, "/") {
			return // an absolute path names a directory: nothing in it is a password
		}
		if len(pw) < 4 || strings.Trim(pw, "x") == "" || strings.Count(raw, pw) != 1 || strings.Contains(errText, pw) {
			// Too short to tell from the rest, or also part of the
			// user, host or tail.
			return
		}
		// The same URL with a plain password of the same length: what it
		// shows of pw comes from the other parts (normalised), not from
		// the password.
		plain := shown(build(user, strings.Repeat(string(plainByte(pw)), len(pw)), host, tail), errText)
		for what, text := range shown(raw, errText) {
			if strings.Contains(text, pw) && !strings.Contains(plain[what], pw) {
				t.Fatalf("URL %q: %s %q holds the password %q", raw, what, text, pw)
			}
		}
		if _, err := Parse(raw); err != nil && !errors.Is(err, logstore.ErrInvalid) {
			t.Fatalf("Parse(%q) error %v is not ErrInvalid", raw, err)
		}
	})
}

// shown returns what users may see of a store URL: Redact's result, Parse's
// error, and driver errors (made of errText) that echo the connection
// string, once they went through RedactError.
func shown(raw, errText string) map[string]string {
	out := map[string]string{"Redact": Redact(raw)}
	target, err := Parse(raw)
	if err != nil {
		out["Parse error"] = err.Error()
		return out
	}
	out["echoed DSN"] = RedactError(errors.New(target.Location), target.passwords).Error()
	out["driver error"] = RedactError(errors.New(errText+target.Location+errText), target.passwords).Error()
	return out
}

// plainByte returns a letter that pw does not start with.
func plainByte(pw string) byte {
	if pw[0] == 'Q' {
		return 'Z'
	}
	return 'Q'
}

func TestRedactError(t *testing.T) {
	base := errors.New("dial tcp: connection refused")
	tests := []struct {
		name      string
		err       error
		passwords []string
		want      string
	}{
		{"nothing to hide", base, []string{"s3cret"}, "dial tcp: connection refused"},
		{"echoed DSN", errors.New("cannot connect to app:s3cret@tcp(db)/x"), []string{"s3cret"}, "cannot connect to app:xxxxx@tcp(db)/x"},
		{"every form", errors.New("p%40ss:x p@ss"), []string{"p@ss", "p%40ss"}, "xxxxx:x xxxxx"},
		{"joins into a new one", errors.New("aaxxxx"), []string{"axxxx"}, "xxxxxx"},
		{"short passwords stay", errors.New("ab cd"), []string{"ab"}, "ab cd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := RedactError(tt.err, tt.passwords)
			if got.Error() != tt.want {
				t.Errorf("RedactError = %q, want %q", got, tt.want)
			}
		})
	}
	wrapped := RedactError(errors.Join(errors.New("pw=s3cret"), logstore.ErrNotFound), []string{"s3cret"})
	if !errors.Is(wrapped, logstore.ErrNotFound) || strings.Contains(wrapped.Error(), "s3cret") {
		t.Errorf("RedactError = %v: want ErrNotFound kept and the password gone", wrapped)
	}
}

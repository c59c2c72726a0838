package relaystore

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/whycache/whycache/pkg/logstore"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		url  string
		want string // the parsed target, printed; "" when invalid
	}{
		{"relay://relay:7480", `[relay:7480] "" false ""`},
		{"relay://relay", `[relay:7480] "" false ""`},
		{"RELAY://a:1,b:2/", `[a:1 b:2] "" false ""`},
		{"relay://10.0.0.1:7480,[::1]:7481,[fe80::1]", `[10.0.0.1:7480 [::1]:7481 [fe80::1]:7480] "" false ""`},
		{"relay://r:7480?token-file=/var/run/token&tls=true&ca-file=/etc/ca.pem", `[r:7480] "/var/run/token" true "/etc/ca.pem"`},
		{"relay://r:7480?tls=false", `[r:7480] "" false ""`},
		{"relay://", ""},
		{"relay://a:1,,b:2", ""},
		{"relay://a:1,", ""},
		{"relay://a:1,a:1", ""},
		{"relay://a:0", ""},
		{"relay://a:65536", ""},
		{"relay://a:07480", ""},
		{"relay://a:http", ""},
		{"relay://::1", ""},
		{"relay://a b:1", ""},
		{"relay://user:s3cret@r:7480", ""},
		{"relay://r:7480/db", ""},
		{"relay://r:7480#frag", ""},
		{"relay://r:7480?tls=maybe", ""},
		{"relay://r:7480?ca-file=/ca.pem", ""},
		{"relay://r:7480?token=abc", ""},
		{"relay://r:7480?token-file=", ""},
		{"relay://r:7480?tls=true&tls=true", ""},
		{"relay://r:7480?token-file=%zz", ""},
		{"relays://r:7480", ""},
		{"relay:r:7480", ""},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			got, err := ParseURL(tc.url)
			if tc.want == "" {
				if !errors.Is(err, logstore.ErrInvalid) {
					t.Fatalf("ParseURL = %+v, %v; want ErrInvalid", got, err)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("error %q shows the password", err)
				}
				return
			}
			if err != nil || show(got) != tc.want {
				t.Fatalf("ParseURL = %v, %v; want %s", got, err, tc.want)
			}
			again, err := ParseURL(got.String())
			if err != nil || show(again) != tc.want {
				t.Errorf("ParseURL(%q) = %v, %v; want %s", got.String(), again, err, tc.want)
			}
		})
	}
}

// show prints a target's fields.
func show(t Target) string {
	return fmt.Sprintf("%v %q %v %q", t.Addrs, t.TokenFile, t.TLS, t.CAFile)
}

// FuzzParseURL feeds arbitrary strings to ParseURL: it never panics, what it
// accepts prints as a URL it reads back the same, and its errors never show
// user information.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"relay://relay:7480", "relay://a:1,b:2?token-file=/t&tls=true&ca-file=/c", "relay://[::1]", "relay://u:pass@h:1",
		"relay://a:1,,", "relay://%zz", "relay://h:1?x=%", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := ParseURL(raw)
		if err != nil {
			if !errors.Is(err, logstore.ErrInvalid) {
				t.Fatalf("ParseURL(%q) error %v does not match ErrInvalid", raw, err)
			}
			if _, rest, ok := strings.Cut(raw, "://"); ok {
				auth, _, _ := strings.Cut(rest, "/")
				if at := strings.LastIndexByte(auth, '@'); at > 0 {
					_, pw, ok := strings.Cut(auth[:at], ":")
					// The password's text may be another part of the
					// message: it leaks only when the error for the
					// redacted URL lacks it.
					if ok && len(pw) >= 4 && strings.Contains(err.Error(), pw) {
						if _, err2 := ParseURL(redact(raw)); err2 == nil || !strings.Contains(err2.Error(), pw) {
							t.Fatalf("ParseURL(%q) error %q shows the password %q", raw, err, pw)
						}
					}
				}
			}
			return
		}
		again, err := ParseURL(got.String())
		if err != nil || show(again) != show(got) {
			t.Fatalf("ParseURL(%q) = %v, printed %q, read back as %v, %v", raw, got, got.String(), again, err)
		}
	})
}

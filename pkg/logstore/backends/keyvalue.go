package backends

import (
	"errors"
	"regexp"
	"strings"
)

// keywordRE is a keyword of a keyword/value connection string.
var keywordRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*$`)

// errKeywordValue says how a keyword/value string must be written.
var errKeywordValue = errors.New("write keyword=value pairs separated by spaces, with no space around '=', and quote a value that is empty or holds spaces or quotes ('...', with \\' and \\\\ inside)")

// keywordValuePasswords checks that a PostgreSQL keyword/value connection
// string is written strictly, and returns its passwords (as written and
// unquoted). libpq and pgx accept more (spaces around '=', empty unquoted
// values), but then a mistake in quoting a password turns its tail into
// another keyword's value, which drivers and servers print.
func keywordValuePasswords(s string) ([]string, error) {
	var out []string
	for rest := strings.TrimLeft(s, " \t\n\r"); rest != ""; rest = strings.TrimLeft(rest, " \t\n\r") {
		key, after, ok := strings.Cut(rest, "=")
		if !ok || !keywordRE.MatchString(key) {
			return nil, errKeywordValue
		}
		raw, value, tail, err := keywordValue(after)
		if err != nil {
			return nil, err
		}
		if secretParam(key) {
			out = append(out, raw, value)
		}
		rest = tail
	}
	return out, nil
}

// keywordValue reads one value at the start of s: the value as written, its
// meaning, and what follows it.
func keywordValue(s string) (raw, value, rest string, err error) {
	if !strings.HasPrefix(s, "'") {
		end := strings.IndexAny(s, " \t\n\r")
		if end < 0 {
			end = len(s)
		}
		if end == 0 || strings.ContainsAny(s[:end], `'\`) {
			return "", "", "", errKeywordValue
		}
		return s[:end], s[:end], s[end:], nil
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
		case c == '\'':
			if i+1 < len(s) && !strings.ContainsRune(" \t\n\r", rune(s[i+1])) {
				return "", "", "", errKeywordValue
			}
			return s[1:i], b.String(), s[i+1:], nil
		default:
			b.WriteByte(c)
		}
	}
	return "", "", "", errKeywordValue
}

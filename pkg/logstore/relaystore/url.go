package relaystore

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/whycache/whycache/pkg/logstore"
)

// DefaultPort is the relay's port when a URL names a host alone (the
// default of `whycache relay --listen`).
const DefaultPort = "7480"

// The query parameters of a relay URL.
const (
	paramTokenFile = "token-file"
	paramTLS       = "tls"
	paramCAFile    = "ca-file"
	paramStream    = "stream"
)

// maxRelays bounds the relays of one URL.
const maxRelays = 64

// Target is a parsed relay URL.
type Target struct {
	// Addrs are the relays' host:port, in the URL's order.
	Addrs []string
	// TokenFile is the file holding the bearer token; empty for none.
	TokenFile string
	// TLS connects with TLS (HTTP/2 over TLS) instead of cleartext h2c.
	TLS bool
	// CAFile is a PEM file of the certificate authorities to trust instead
	// of the system's; it needs TLS.
	CAFile string
	// NoStream makes Wait poll (a long poll a call) instead of following
	// the log with a stream: stream=false.
	NoStream bool
}

// ParseURL parses relay://host:port[,host2:port...][?token-file=PATH&tls=true&ca-file=PATH&stream=false].
// A host without a port gets DefaultPort. The token travels in a file, never
// in the URL: a URL with user information is refused. Its errors wrap
// logstore.ErrInvalid.
func ParseURL(raw string) (Target, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || !strings.EqualFold(scheme, "relay") {
		return Target{}, invalid(raw, "want relay://host:port[,host:port...]")
	}
	if strings.Contains(rest, "#") {
		return Target{}, invalid(raw, "a relay URL has no fragment ('#')")
	}
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	if strings.Contains(authority, "@") {
		return Target{}, invalid(raw, "a relay URL carries no user or password: put the token in a file and name it with ?token-file=PATH")
	}
	path, query, _ := strings.Cut(tail, "?")
	if path != "" && path != "/" {
		return Target{}, invalid(raw, "a relay URL has no path")
	}
	addrs, err := parseHosts(authority)
	if err != nil {
		return Target{}, invalid(raw, err.Error())
	}
	t := Target{Addrs: addrs}
	if err := t.parseQuery(query); err != nil {
		return Target{}, invalid(raw, err.Error())
	}
	return t, nil
}

// parseHosts splits and checks the comma-separated host:port list.
func parseHosts(authority string) ([]string, error) {
	if authority == "" {
		return nil, fmt.Errorf("no relay host")
	}
	parts := strings.Split(authority, ",")
	if len(parts) > maxRelays {
		return nil, fmt.Errorf("%d relays, at most %d", len(parts), maxRelays)
	}
	seen := map[string]bool{}
	var out []string
	for _, p := range parts {
		addr, err := hostPort(p)
		if err != nil {
			return nil, err
		}
		if seen[addr] {
			return nil, fmt.Errorf("relay %s is named twice", addr)
		}
		seen[addr] = true
		out = append(out, addr)
	}
	return out, nil
}

// hostPort checks one host[:port] and adds the default port.
func hostPort(p string) (string, error) {
	if p == "" {
		return "", fmt.Errorf("an empty relay host (two commas, or one at an end)")
	}
	host, port, err := net.SplitHostPort(p)
	if err != nil {
		// No port: a host name, an IPv4 address or a bracketed IPv6 one.
		host, port = strings.TrimSuffix(strings.TrimPrefix(p, "["), "]"), DefaultPort
		if strings.ContainsAny(host, "[]") || (strings.Contains(host, ":") && !strings.HasPrefix(p, "[")) {
			return "", fmt.Errorf("relay host %q: write an IPv6 address in brackets ([::1]:7480)", p)
		}
	}
	if host == "" || strings.ContainsAny(host, " %/\\") {
		return "", fmt.Errorf("relay host %q: want host:port", p)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
		return "", fmt.Errorf("relay %q: port %q is not a number from 1 to 65535", p, port)
	}
	return net.JoinHostPort(host, port), nil
}

// parseQuery reads the URL's options.
func (t *Target) parseQuery(query string) error {
	q, err := url.ParseQuery(query)
	if err != nil {
		return fmt.Errorf("cannot parse the parameters: percent-encode reserved characters in their values (%% & = #)")
	}
	for k, vs := range q {
		if len(vs) != 1 {
			return fmt.Errorf("parameter %q given %d times", k, len(vs))
		}
		v := vs[0]
		switch k {
		case paramTokenFile:
			t.TokenFile = v
		case paramCAFile:
			t.CAFile = v
		case paramTLS:
			if t.TLS, err = strconv.ParseBool(v); err != nil {
				return fmt.Errorf("%s=%q: want true or false", k, v)
			}
		case paramStream:
			stream, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("%s=%q: want true or false", k, v)
			}
			t.NoStream = !stream
		default:
			return fmt.Errorf("unknown parameter %q (want %s, %s, %s, %s)", k, paramTokenFile, paramTLS, paramCAFile, paramStream)
		}
		if v == "" {
			return fmt.Errorf("parameter %q is empty", k)
		}
	}
	if t.CAFile != "" && !t.TLS {
		return fmt.Errorf("%s needs %s=true", paramCAFile, paramTLS)
	}
	return nil
}

// String formats the target as a URL that ParseURL reads back.
func (t Target) String() string {
	q := url.Values{}
	if t.TokenFile != "" {
		q.Set(paramTokenFile, t.TokenFile)
	}
	if t.TLS {
		q.Set(paramTLS, "true")
	}
	if t.CAFile != "" {
		q.Set(paramCAFile, t.CAFile)
	}
	if t.NoStream {
		q.Set(paramStream, "false")
	}
	s := "relay://" + strings.Join(t.Addrs, ",")
	if len(q) > 0 {
		s += "?" + q.Encode()
	}
	return s
}

func invalid(raw, why string) error {
	return fmt.Errorf("relay URL %q: %s: %w", redact(raw), why, logstore.ErrInvalid)
}

// redact hides the user information of a URL (which a relay URL must not
// have, but a mistaken one may, with a password): everything of its
// authority up to the last '@'.
func redact(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		if at := strings.LastIndexByte(raw, '@'); at >= 0 {
			return "REDACTED" + raw[at:]
		}
		return raw
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndexByte(rest[:end], '@')
	if at < 0 {
		return raw
	}
	return scheme + "://REDACTED" + rest[at:]
}

package snapshot

import (
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"
)

// Location is where snapshots live, as a snapshot URL names it:
//
//	s3://bucket/prefix?region=eu-west-1&endpoint=http://127.0.0.1:9000&path-style=true
//	file:///var/lib/whycache-snapshots   (or a plain absolute path)
//
// Credentials are never part of the URL: an S3 store takes them from the
// SDK's default chain (environment, shared config, web identity/IRSA,
// instance profile) or from explicit [Credentials].
type Location struct {
	// Bucket is the S3 bucket; empty for a directory.
	Bucket string
	// Prefix is the key prefix inside the bucket, without leading or
	// trailing slash; may be empty.
	Prefix string
	// Region is the S3 region; empty means the SDK's default chain.
	Region string
	// Endpoint is a custom S3 endpoint URL (an S3-compatible server).
	Endpoint string
	// PathStyle selects path-style addressing (bucket in the path), which
	// most S3-compatible servers need.
	PathStyle bool
	// Dir is the directory of a local store; empty for S3.
	Dir string
}

// String returns the location as a URL (it holds no secrets).
func (l Location) String() string {
	if l.Dir != "" {
		return (&url.URL{Scheme: "file", Path: l.Dir}).String()
	}
	q := url.Values{}
	if l.Region != "" {
		q.Set("region", l.Region)
	}
	if l.Endpoint != "" {
		q.Set("endpoint", l.Endpoint)
	}
	if l.PathStyle {
		q.Set("path-style", "true")
	}
	u := url.URL{Scheme: "s3", Host: l.Bucket, RawQuery: q.Encode()}
	if l.Prefix != "" {
		u.Path = "/" + l.Prefix
	}
	return u.String()
}

// ParseURL parses a snapshot URL strictly: an unknown scheme or parameter,
// a parameter given twice, credentials in the URL, an invalid bucket name
// or a prefix with empty, "." or ".." segments are errors (ErrInvalid).
func ParseURL(raw string) (Location, error) {
	if strings.HasPrefix(raw, "/") {
		return parseDir(raw, raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url's errors quote the input, which may hold a password.
		return Location{}, invalidURL(raw, "not a URL")
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return Location{}, invalidURL(raw, "a file URL is file:///absolute/path, with nothing else")
		}
		return parseDir(raw, u.Path)
	case "s3":
		return parseS3(raw, u)
	default:
		return Location{}, invalidURL(raw, "want s3://bucket/prefix?... or file:///path")
	}
}

func invalidURL(raw, why string) error {
	return fmt.Errorf("snapshot URL %q: %s: %w", redactURL(raw), why, ErrInvalid)
}

// redactURL drops anything that could be a secret from a URL for messages.
func redactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		u.User = url.User("REDACTED")
		return u.String()
	}
	// Unparsable: whatever stands before the last @ may be a password
	// (which can itself hold an @), so none of it is shown.
	if i := strings.LastIndex(raw, "@"); i >= 0 {
		return "REDACTED" + raw[i:]
	}
	return raw
}

func parseDir(raw, p string) (Location, error) {
	trimmed := strings.TrimSuffix(p, "/")
	if !path.IsAbs(p) || trimmed == "" || trimmed == "/" || path.Clean(trimmed) != trimmed {
		return Location{}, invalidURL(raw, "a directory must be an absolute, clean path other than /")
	}
	return Location{Dir: trimmed}, nil
}

func parseS3(raw string, u *url.URL) (Location, error) {
	if u.User != nil {
		return Location{}, invalidURL(raw, "credentials do not belong in the URL (use the environment or a Secret)")
	}
	if u.Opaque != "" || u.Fragment != "" || u.Port() != "" {
		return Location{}, invalidURL(raw, "want s3://bucket/prefix")
	}
	l := Location{Bucket: u.Host}
	if err := checkBucket(l.Bucket); err != nil {
		return Location{}, invalidURL(raw, err.Error())
	}
	prefix := strings.TrimSuffix(strings.TrimPrefix(u.Path, "/"), "/")
	if prefix != "" {
		for _, seg := range strings.Split(prefix, "/") {
			if seg == "" || seg == "." || seg == ".." {
				return Location{}, invalidURL(raw, "the prefix has an empty, . or .. segment")
			}
		}
	}
	l.Prefix = prefix
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return Location{}, invalidURL(raw, err.Error())
	}
	for k, vs := range q {
		if len(vs) != 1 {
			return Location{}, invalidURL(raw, "parameter "+k+" given more than once")
		}
		if err := l.setParam(k, vs[0]); err != nil {
			return Location{}, invalidURL(raw, err.Error())
		}
	}
	return l, nil
}

func (l *Location) setParam(k, v string) error {
	switch k {
	case "region":
		if v == "" || strings.ContainsAny(v, " /\t\n") {
			return fmt.Errorf("bad region %q", v)
		}
		l.Region = v
	case "endpoint":
		e, err := url.Parse(v)
		if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" || e.User != nil ||
			(e.Path != "" && e.Path != "/") || e.RawQuery != "" || e.Fragment != "" {
			return fmt.Errorf("endpoint must be http(s)://host[:port], got %q", v)
		}
		l.Endpoint = strings.TrimSuffix(v, "/")
	case "path-style":
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("path-style must be true or false, got %q", v)
		}
		l.PathStyle = b
	default:
		return fmt.Errorf("unknown parameter %q (want region, endpoint, path-style)", k)
	}
	return nil
}

// checkBucket applies S3's bucket naming rules: 3 to 63 characters of
// lowercase letters, digits, dots and hyphens, starting and ending with a
// letter or digit, no two dots in a row.
func checkBucket(b string) error {
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("bucket name %q must be 3 to 63 characters", b)
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && c != '.' && c != '-' || (i == 0 || i == len(b)-1) && !alnum {
			return fmt.Errorf("bucket name %q: lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit", b)
		}
	}
	if strings.Contains(b, "..") {
		return fmt.Errorf("bucket name %q has two dots in a row", b)
	}
	return nil
}

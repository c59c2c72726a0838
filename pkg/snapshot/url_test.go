package snapshot_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/whycache/whycache/pkg/snapshot"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		in      string
		want    snapshot.Location
		wantErr string
	}{
		{in: "s3://my-bucket/snaps/prod?region=eu-west-1",
			want: snapshot.Location{Bucket: "my-bucket", Prefix: "snaps/prod", Region: "eu-west-1"}},
		{in: "s3://my.bucket", want: snapshot.Location{Bucket: "my.bucket"}},
		{in: "s3://b12/p/?endpoint=http://127.0.0.1:9000/&path-style=true",
			want: snapshot.Location{Bucket: "b12", Prefix: "p", Endpoint: "http://127.0.0.1:9000", PathStyle: true}},
		{in: "/var/snaps", want: snapshot.Location{Dir: "/var/snaps"}},
		{in: "/var/snaps/", want: snapshot.Location{Dir: "/var/snaps"}},
		{in: "file:///var/snaps", want: snapshot.Location{Dir: "/var/snaps"}},
		{in: "s3://key:secret@bucket/p", wantErr: "credentials"},
		{in: "s3://Bucket/p", wantErr: "bucket name"},
		{in: "s3://ab/p", wantErr: "bucket name"},
		{in: "s3://a..b/p", wantErr: "two dots"},
		{in: "s3://-ab/p", wantErr: "bucket name"},
		{in: "s3://bucket/a//b", wantErr: "segment"},
		{in: "s3://bucket/a/../b", wantErr: "segment"},
		{in: "s3://bucket/p?regio=x", wantErr: "unknown parameter"},
		{in: "s3://bucket/p?region=a&region=b", wantErr: "more than once"},
		{in: "s3://bucket/p?path-style=maybe", wantErr: "path-style"},
		{in: "s3://bucket/p?endpoint=ftp://x", wantErr: "endpoint"},
		{in: "s3://bucket/p?endpoint=http://u:p@x", wantErr: "endpoint"},
		{in: "s3://bucket/p?endpoint=http://x/path", wantErr: "endpoint"},
		{in: "s3://bucket:99/p", wantErr: "want s3://"},
		{in: "s3://bucket/p#frag", wantErr: "want s3://"},
		{in: "gs://bucket/p", wantErr: "want s3://"},
		{in: "relative/dir", wantErr: "want s3://"},
		{in: "/", wantErr: "absolute"},
		{in: "/a/../b", wantErr: "absolute"},
		{in: "file://host/x", wantErr: "file URL"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := snapshot.ParseURL(tc.in)
			if tc.wantErr != "" {
				if err == nil || !errors.Is(err, snapshot.ErrInvalid) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseURL(%q) = %+v, %v; want ErrInvalid mentioning %q", tc.in, got, err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Fatalf("the error shows the secret: %v", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseURL(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
			again, err := snapshot.ParseURL(got.String())
			if err != nil || again != got {
				t.Fatalf("round trip through %q: %+v, %v", got.String(), again, err)
			}
		})
	}
}

// FuzzParseURL checks that the parser never panics, that every accepted
// URL prints back to one that parses to the same location, and that no
// error shows a password.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"s3://bucket/p?region=r&endpoint=http://h:1&path-style=true", "/d", "file:///d",
		"s3://u:pw@b/p", "s3://bucket/%2e%2e/x", "s3://b.b/p?endpoint=https://x/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		loc, err := snapshot.ParseURL(s)
		if err != nil {
			if !errors.Is(err, snapshot.ErrInvalid) {
				t.Fatalf("error not ErrInvalid: %v", err)
			}
			if strings.Contains(s, ":pw@") && strings.Contains(err.Error(), ":pw@") {
				t.Fatalf("error shows the password: %v", err)
			}
			return
		}
		again, err := snapshot.ParseURL(loc.String())
		if err != nil || again != loc {
			t.Fatalf("%q parsed to %+v, printed %q, parsed again to %+v, %v", s, loc, loc.String(), again, err)
		}
	})
}

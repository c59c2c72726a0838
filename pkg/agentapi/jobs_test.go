package agentapi

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestResultRoundTrip(t *testing.T) {
	now := time.Date(2026, 11, 30, 1, 2, 3, 0, time.UTC)
	tests := []struct {
		name string
		in   any
	}{
		{"snapshot", &SnapshotResult{Kind: KindSnapshot, UpdateID: 42, Key: "p/log/0000042.whycache", Bytes: 1 << 20, Seconds: 1.5, BytesPerSecond: 699050.6, Time: now}},
		{"rewrite", &RewriteResult{Kind: KindRewrite, Through: 40, DeleteLimit: 30, Removed: 7, Horizon: 30, Reason: "snapshot 30", Seconds: 0.2, Time: now}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line, err := FormatResult(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseResult("some log line\n" + line + "\n")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.in) {
				t.Fatalf("round trip: got %#v, want %#v", got, tt.in)
			}
		})
	}
}

func TestParseResultErrors(t *testing.T) {
	tests := []struct {
		name string
		text string
		want error
	}{
		{"empty", "", ErrNoResult},
		{"no prefix", `{"kind":"snapshot"}`, ErrNoResult},
		{"bad json", ResultPrefix + "{", nil},
		{"unknown kind", ResultPrefix + `{"kind":"x"}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseResult(tt.text)
			if err == nil {
				t.Fatal("no error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func FuzzParseResult(f *testing.F) {
	f.Add(ResultPrefix + `{"kind":"snapshot","update_id":1}`)
	f.Add(ResultPrefix + `{"kind":"rewrite","through":1}`)
	f.Add("x\n" + ResultPrefix + "{")
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseResult(s)
		if err != nil {
			return
		}
		line, err := FormatResult(v)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseResult(line)
		if err != nil {
			t.Fatalf("re-parse %q: %v", line, err)
		}
		if !reflect.DeepEqual(v, again) {
			t.Fatalf("not stable: %#v vs %#v", v, again)
		}
	})
}

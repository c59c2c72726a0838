package logstore

import (
	"errors"
	"testing"
)

func TestLogIDRoundTrip(t *testing.T) {
	for range 100 {
		id := NewLogID()
		got, err := ParseLogID(id.String())
		if err != nil || got != id {
			t.Fatalf("ParseLogID(%q) = %v, %v; want %v", id.String(), got, err, id)
		}
	}
	tests := []string{"", "x", "00000000-0000-0000-0000-00000000000", "0000000000000000000000000000000000000", "zzzzzzzz-0000-0000-0000-000000000000"}
	for _, s := range tests {
		if _, err := ParseLogID(s); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseLogID(%q) = %v, want ErrInvalid", s, err)
		}
	}
}

// FuzzParseLogID checks that ParseLogID never panics and that whatever it
// accepts prints back to the same text, lowercased.
func FuzzParseLogID(f *testing.F) {
	f.Add("45364139-7f8e-4f83-b276-a14cc97b638c")
	f.Add("45364139-7F8E-4F83-B276-A14CC97B638C")
	f.Add("not a uuid")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseLogID(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParseLogID(%q) error %v does not match ErrInvalid", s, err)
			}
			return
		}
		again, err := ParseLogID(id.String())
		if err != nil || again != id {
			t.Fatalf("%q parsed to %v, which does not round-trip: %v", s, id, err)
		}
	})
}

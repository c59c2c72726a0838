package snapshot

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// goodManifest is the JSON of a valid manifest; edit replaces one field.
func goodManifest(edit func(map[string]any)) []byte {
	m := map[string]any{
		"manifest_version": 1,
		"log_id":           "0b6f4c1e-6a43-4d6b-9a3e-3c1f0e2d7a55",
		"format_version":   1,
		"update_id":        42,
		"object":           "snaps/log/00000000000000000042-abcdef.whycache",
		"size":             4096,
		"sha256":           strings.Repeat("ab", 32),
		"crc64nvme":        "AAAAAAAAAAA=",
		"xxh3":             strings.Repeat("cd", 16),
		"etag":             `"etag"`,
		"created":          "2026-11-30T12:00:00Z",
		"tool_version":     "test",
	}
	if edit != nil {
		edit(m)
	}
	b, _ := json.Marshal(m)
	return b
}

func TestDecodeManifest(t *testing.T) {
	tests := []struct {
		name string
		json []byte
		want string // "" for valid, else a piece of the error
	}{
		{"valid", goodManifest(nil), ""},
		{"no XXH3-128 (an older tool)", goodManifest(func(m map[string]any) { delete(m, "xxh3") }), ""},
		{"a field this version does not know", goodManifest(func(m map[string]any) { m["future"] = true }), ""},
		{"another manifest version", goodManifest(func(m map[string]any) { m["manifest_version"] = 2 }), "manifest version 2"},
		{"no object", goodManifest(func(m map[string]any) { delete(m, "object") }), "no object"},
		{"no ETag", goodManifest(func(m map[string]any) { m["etag"] = "" }), "no object or ETag"},
		{"size 0", goodManifest(func(m map[string]any) { m["size"] = 0 }), "size 0"},
		{"short SHA-256", goodManifest(func(m map[string]any) { m["sha256"] = "abcd" }), "SHA-256"},
		{"XXH3-128 not hex", goodManifest(func(m map[string]any) { m["xxh3"] = strings.Repeat("zz", 16) }), "XXH3-128"},
		{"XXH3-128 of 64 bits", goodManifest(func(m map[string]any) { m["xxh3"] = strings.Repeat("cd", 8) }), "XXH3-128"},
		{"not JSON", []byte("{"), "manifest k"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := decodeManifest("k", tc.json)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("decode: %v", err)
			case tc.want == "" && m.Key != "k":
				t.Errorf("Key %q, want k", m.Key)
			case tc.want != "" && (!errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("decode: %v, want ErrCorrupt saying %q", err, tc.want)
			}
		})
	}
}

// FuzzDecodeManifest: decoding never panics, and a manifest it accepts
// survives a round trip through JSON unchanged.
func FuzzDecodeManifest(f *testing.F) {
	f.Add(goodManifest(nil))
	f.Add(goodManifest(func(m map[string]any) { delete(m, "xxh3") }))
	f.Add([]byte(`{"manifest_version":1}`))
	f.Add(goodManifest(func(m map[string]any) { m["created"] = "2026-11-30T12:00:00+01:00" }))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeManifest("k", b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		again, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := decodeManifest("k", again)
		if err != nil {
			t.Fatalf("re-encoded manifest refused: %v", err)
		}
		// A time's zone survives JSON as an offset, not as the same
		// *time.Location: compare instants.
		m.Created, m2.Created = m.Created.UTC(), m2.Created.UTC()
		if m2 != m {
			t.Fatalf("round trip: %+v, want %+v", m2, m)
		}
	})
}

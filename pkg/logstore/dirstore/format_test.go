package dirstore

import (
	"encoding/hex"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/storetest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestGolden pins the on-disk format byte for byte: a change to any of
// these encodings breaks every existing log, so it must be deliberate
// (go test -run TestGolden -update) and documented in doc.go.
func TestGolden(t *testing.T) {
	id, _ := logstore.ParseLogID("0123abcd-4567-4890-9abc-def012345678")
	at := time.Unix(1_700_000_000, 123456789)
	tests := []struct {
		name string
		data []byte
	}{
		{"segment-header", segHeader{base: 42, gen: 3}.encode()},
		{"record-single-set", appendRecord(nil, logstore.Update{ID: 7, Time: at, Ops: []logstore.Op{logstore.Set([]byte("key"), []byte("value"))}})},
		{"record-mixed", appendRecord(nil, logstore.Update{ID: 1 << 40, Time: at, Ops: []logstore.Op{
			logstore.Delete([]byte("gone")), logstore.Set([]byte("empty"), nil), logstore.Set([]byte{0, 0xff}, []byte(strings.Repeat("v", 130)))}})},
		{"head", head{layout: 5, active: 42, committed: 4096, latest: 99, horizon: 17}.encode()},
		{"identity", encodeIdentity(id)},
		{"horizon", encodeHorizon(17)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join("testdata", tc.name+".golden")
			got := hex.Dump(tc.data)
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("encoding changed:\ngot\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// TestDecodeRecordRejects checks the decoder on damaged records.
func TestDecodeRecordRejects(t *testing.T) {
	good := appendRecord(nil, logstore.Update{ID: 3, Time: time.Unix(0, 1), Ops: []logstore.Op{logstore.Set([]byte("k"), []byte("v"))}})
	body := good[recHeaderLen:]
	tests := []struct {
		name string
		rec  []byte
		want error
	}{
		{"empty", nil, errShort},
		{"half a header", good[:5], errShort},
		{"cut body", good[:len(good)-1], errShort},
		{"flipped checksum", flip(good, 4), errCorrupt},
		{"flipped body", flip(good, len(good)-1), errCorrupt},
		{"length too small", frame(body[:10]), errCorrupt},
		{"zero operations", frame(append(append([]byte{}, body[:16]...), 0)), errCorrupt},
		{"unknown type", frame(append(append([]byte{}, body[:16]...), 1, 9, 1, 'k')), errCorrupt},
		{"empty key", frame(append(append([]byte{}, body[:16]...), 1, 2, 0)), errCorrupt},
		{"trailing bytes", frame(append(append([]byte{}, body...), 0)), errCorrupt},
		{"value past the end", frame(append(append([]byte{}, body[:16]...), 1, 1, 1, 'k', 5, 'v')), errCorrupt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := decodeRecord(tc.rec); !errors.Is(err, tc.want) {
				t.Errorf("decodeRecord = %v, want %v", err, tc.want)
			}
		})
	}
	if u, n, err := decodeRecord(good); err != nil || n != len(good) || u.ID != 3 || string(u.Ops[0].Value) != "v" {
		t.Errorf("decodeRecord(good) = %+v, %d, %v", u, n, err)
	}
}

// flip returns b with the lowest bit of byte i flipped.
func flip(b []byte, i int) []byte {
	c := append([]byte{}, b...)
	c[i] ^= 1
	return c
}

// TestCompact checks the rewrite's decision, segment by segment newest
// first, against the suite's reference model.
func TestCompact(t *testing.T) {
	r := storetest.NewRand(t)
	gen := storetest.OpGen{Prefix: "k", Keys: 8, MaxOps: 4, MaxValue: 4, DeleteRate: 0.4}
	var log []logstore.Update
	for i := range 200 {
		log = append(log, logstore.Update{ID: uint64(3 * (i + 1)), Ops: gen.Ops(r)})
	}
	tests := []struct{ through, deleteLimit uint64 }{
		{0, 0}, {1, 1}, {300, 0}, {300, 150}, {300, 1000}, {600, 600}, {1000, 300},
	}
	for _, tc := range tests {
		want, wantRemoved, wantExamined := storetest.RewriteModel(log, tc.through, tc.deleteLimit)
		seen := map[string]bool{}
		var got []logstore.Update
		var examined, removed int64
		for end := len(log); end > 0; end -= 37 { // segments of 37 updates, newest first
			kept, ex, rm := compact(log[max(0, end-37):end], tc.through, tc.deleteLimit, seen)
			got = append(kept, got...)
			examined, removed = examined+ex, removed+rm
		}
		if d := storetest.DiffUpdates(got, want); d != "" || removed != wantRemoved || examined != wantExamined {
			t.Errorf("through %d, deletes %d: %s; removed %d, examined %d; want %d, %d",
				tc.through, tc.deleteLimit, d, removed, examined, wantRemoved, wantExamined)
		}
	}
}

package relaywire

import (
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
)

func TestPageRoundTrip(t *testing.T) {
	at := time.Unix(1700000000, 123456789)
	tests := []struct {
		name string
		page []logstore.Update
	}{
		{"empty", []logstore.Update{}},
		{"one set", []logstore.Update{{ID: 1, Time: at, Ops: []logstore.Op{logstore.Set([]byte("k"), []byte("v"))}}}},
		{"empty value and delete", []logstore.Update{{ID: 7, Time: at, Ops: []logstore.Op{
			logstore.Set([]byte("k"), []byte{}), logstore.Delete([]byte("d")),
		}}}},
		{"several, big id, binary key", []logstore.Update{
			{ID: 1 << 62, Time: time.Unix(0, -5), Ops: []logstore.Op{logstore.Set([]byte{0, 0xff}, make([]byte, 300))}},
			{ID: 1<<62 + 1, Time: at, Ops: []logstore.Op{{Type: 9, Key: []byte("odd type"), Value: []byte("x")}}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := AppendPage(nil, tc.page)
			if len(b) > PageSize(tc.page) {
				t.Errorf("encoding is %d bytes, PageSize said %d", len(b), PageSize(tc.page))
			}
			got, err := DecodePage(b)
			if err != nil {
				t.Fatal(err)
			}
			if !samePage(got, tc.page) {
				t.Fatalf("round trip: got %+v, want %+v", got, tc.page)
			}
			for _, u := range tc.page {
				gotOps, err := DecodeOps(AppendOps(nil, u.Ops))
				if err != nil || !reflect.DeepEqual(gotOps, u.Ops) {
					t.Fatalf("ops round trip: got %+v, %v; want %+v", gotOps, err, u.Ops)
				}
			}
		})
	}
}

// TestDecodeCopies: a decoded page owns its keys and values (the body may
// be reused), one key or value grown by append never runs into the next,
// and they take one allocation between them, not one each.
func TestDecodeCopies(t *testing.T) {
	var ops []logstore.Op
	for i := range 100 {
		ops = append(ops, logstore.Set(fmt.Appendf(nil, "key-%03d", i), fmt.Appendf(nil, "value-%03d", i)))
	}
	page := []logstore.Update{{ID: 1, Time: time.Unix(1, 0), Ops: ops}, {ID: 2, Time: time.Unix(2, 0), Ops: ops[:3]}}
	b := AppendPage(nil, page)
	got, err := DecodePage(b)
	if err != nil {
		t.Fatal(err)
	}
	clear(b)
	_ = append(got[0].Ops[0].Key, "XXXXXXXX"...)
	_ = append(got[0].Ops[0].Value, "XXXXXXXX"...)
	if !samePage(got, page) {
		t.Fatal("the page changed with its body, or with an append to one key")
	}
	b = AppendPage(nil, page)
	// The page, each update's operations, and one block for all keys and
	// values (before: two more per operation).
	if n := testing.AllocsPerRun(20, func() { DecodePage(b) }); n > 4 {
		t.Errorf("DecodePage of 103 operations: %.0f allocations, want at most 4", n)
	}
}

// samePage compares pages, times by instant.
func samePage(a, b []logstore.Update) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ID != b[i].ID || !a[i].Time.Equal(b[i].Time) || !reflect.DeepEqual(a[i].Ops, b[i].Ops) {
			return false
		}
	}
	return true
}

func TestDecodeRefuses(t *testing.T) {
	valid := AppendPage(nil, []logstore.Update{{ID: 3, Time: time.Unix(1, 0), Ops: []logstore.Op{logstore.Set([]byte("k"), []byte("v"))}}})
	tests := []struct {
		name string
		b    []byte
	}{
		{"nothing", nil},
		{"ops header", AppendOps(nil, nil)},
		{"wrong version", []byte{'P', 2, 0}},
		{"trailing byte", append(append([]byte{}, valid...), 0)},
		{"cut short", valid[:len(valid)-1]},
		{"huge count", []byte{'P', 1, 0xff, 0xff, 0xff, 0xff, 0x0f}},
		{"huge key", []byte{'P', 1, 1, 1, 0, 1, 1, 0xff, 0xff, 0x03, 0}},
		{"bad varint", []byte{'P', 1, 0x80}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := DecodePage(tc.b); !errors.Is(err, ErrMalformed) {
				t.Fatalf("DecodePage(%x) = %+v, %v; want ErrMalformed", tc.b, got, err)
			}
		})
	}
}

func TestErrorRoundTrip(t *testing.T) {
	tests := []struct {
		err    error
		want   error
		status int
	}{
		{logstore.ErrBehindHorizon, logstore.ErrBehindHorizon, http.StatusConflict},
		{logstore.ErrTooLarge, logstore.ErrTooLarge, http.StatusRequestEntityTooLarge},
		{logstore.ErrInvalid, logstore.ErrInvalid, http.StatusBadRequest},
		{logstore.ErrNotFound, logstore.ErrNotFound, http.StatusNotFound},
		{logstore.ErrIdentityMismatch, logstore.ErrIdentityMismatch, http.StatusConflict},
		{logstore.ErrClosed, ErrUnavailable, http.StatusServiceUnavailable},
		{ErrUnauthorized, ErrUnauthorized, http.StatusUnauthorized},
		{errors.New("disk on fire"), nil, http.StatusInternalServerError},
	}
	for _, tc := range tests {
		t.Run(tc.err.Error(), func(t *testing.T) {
			e, status := FromError(tc.err)
			got := e.ToError()
			if status != tc.status || got.Error() != tc.err.Error() {
				t.Errorf("FromError = %+v, %d; ToError = %q", e, status, got)
			}
			if tc.want != nil && !errors.Is(got, tc.want) {
				t.Errorf("ToError = %v, want it to match %v", got, tc.want)
			}
		})
	}
}

func TestSplitPath(t *testing.T) {
	tests := []struct {
		path, name, call string
		ok               bool
	}{
		{"/v1/logs/default/read", "default", "read", true},
		{Path("x", CallWait), "x", CallWait, true},
		{"/v1/logs//read", "", "", false},
		{"/v1/logs/a/", "", "", false},
		{"/v1/logs/a/b/c", "", "", false},
		{"/v2/logs/a/read", "", "", false},
	}
	for _, tc := range tests {
		name, call, ok := SplitPath(tc.path)
		if name != tc.name || call != tc.call || ok != tc.ok {
			t.Errorf("SplitPath(%q) = %q, %q, %v", tc.path, name, call, ok)
		}
	}
}

// FuzzDecodePage feeds arbitrary bytes to the decoders: they never panic,
// and whatever they accept encodes to bytes that decode to the same.
func FuzzDecodePage(f *testing.F) {
	f.Add(AppendPage(nil, []logstore.Update{{ID: 3, Time: time.Unix(1, 0), Ops: []logstore.Op{logstore.Set([]byte("k"), []byte("v")), logstore.Delete([]byte("d"))}}}))
	f.Add(AppendOps(nil, []logstore.Op{logstore.Set([]byte("k"), nil)}))
	f.Add([]byte{'P', 1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		if page, err := DecodePage(b); err == nil {
			again, err := DecodePage(AppendPage(nil, page))
			if err != nil || !samePage(again, page) {
				t.Fatalf("page %+v re-encoded decodes to %+v, %v", page, again, err)
			}
		} else if !errors.Is(err, ErrMalformed) {
			t.Fatalf("DecodePage error %v does not match ErrMalformed", err)
		}
		if ops, err := DecodeOps(b); err == nil {
			again, err := DecodeOps(AppendOps(nil, ops))
			if err != nil || !reflect.DeepEqual(again, ops) {
				t.Fatalf("ops %+v re-encoded decode to %+v, %v", ops, again, err)
			}
		} else if !errors.Is(err, ErrMalformed) {
			t.Fatalf("DecodeOps error %v does not match ErrMalformed", err)
		}
	})
}

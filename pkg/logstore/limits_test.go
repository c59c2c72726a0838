package logstore

import (
	"errors"
	"strings"
	"testing"
)

func TestLimitsCheck(t *testing.T) {
	small := Limits{MaxKeySize: 4, MaxValueSize: 8, MaxUpdateSize: 16, MaxUpdateOps: 3}
	tests := []struct {
		name    string
		ops     []Op
		want    error
		mention string // a part of the message
	}{
		{"ok", []Op{Set([]byte("k"), []byte("v")), Delete([]byte("d"))}, nil, ""},
		{"empty value is fine", []Op{Set([]byte("k"), nil)}, nil, ""},
		{"no ops", nil, ErrInvalid, "no operations"},
		{"empty key", []Op{Set(nil, []byte("v"))}, ErrInvalid, "empty key"},
		{"unknown type", []Op{{Type: 9, Key: []byte("k")}}, ErrInvalid, "op(9)"},
		{"delete with value", []Op{{Type: OpDelete, Key: []byte("k"), Value: []byte("v")}}, ErrInvalid, "has a value"},
		{"key too large", []Op{Set([]byte("kkkkk"), nil)}, ErrTooLarge, "key size limit of 4"},
		{"value too large", []Op{Set([]byte("k"), []byte("123456789"))}, ErrTooLarge, "value size limit of 8"},
		{"update too large", []Op{Set([]byte("a"), []byte("1234567")), Set([]byte("b"), []byte("1234567")), Set([]byte("c"), []byte("1"))}, ErrTooLarge, "update size limit of 16"},
		{"too many ops", []Op{Delete([]byte("a")), Delete([]byte("b")), Delete([]byte("c")), Delete([]byte("d"))}, ErrTooLarge, "limit of 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := small.Check(tt.ops)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Check = %v, want %v", err, tt.want)
			}
			if err != nil && !strings.Contains(err.Error(), tt.mention) {
				t.Fatalf("Check = %q, want a message with %q", err, tt.mention)
			}
		})
	}
	if err := (Limits{}).Check([]Op{Set(make([]byte, DefaultMaxKeySize), make([]byte, DefaultMaxValueSize))}); err != nil {
		t.Fatalf("default limits refuse a maximal op: %v", err)
	}
}

func TestQuoteKey(t *testing.T) {
	if got := QuoteKey([]byte("a\tb")); got != `"a\tb"` {
		t.Errorf("QuoteKey = %s", got)
	}
	long := QuoteKey([]byte(strings.Repeat("x", 100)))
	if !strings.Contains(long, "(100 bytes)") || strings.Count(long, "x") != 64 {
		t.Errorf("QuoteKey of 100 bytes = %s", long)
	}
}

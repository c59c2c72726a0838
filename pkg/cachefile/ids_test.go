package cachefile

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestFormatID(t *testing.T) {
	id := [16]byte{0x7c, 0x51, 0xaa, 0xda, 0x01, 0xa5, 0x45, 0xd5, 0x90, 0x8a, 0x44, 0x11, 0x7c, 0xb5, 0x8f, 0x58}
	if got, want := formatID(id), "7c51aada-01a5-45d5-908a-44117cb58f58"; got != want {
		t.Errorf("formatID = %s, want %s", got, want)
	}
}

// TestIdentityMismatchNamesLogsAsUUIDs opens a file with another log's
// identity: the error names both as the store prints them.
func TestIdentityMismatchNamesLogsAsUUIDs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cache")
	w, err := OpenWriter(t.Context(), path, testLogID, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	other := [16]byte{1, 2, 3}
	_, err = OpenWriter(t.Context(), path, other, Options{NoSync: true})
	if !errors.Is(err, ErrIdentityMismatch) || !strings.Contains(err.Error(), formatID(testLogID)) || !strings.Contains(err.Error(), "01020300-0000-0000-0000-000000000000") {
		t.Fatalf("OpenWriter = %v, want ErrIdentityMismatch naming both logs as UUIDs", err)
	}
}

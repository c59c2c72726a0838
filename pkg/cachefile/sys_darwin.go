package cachefile

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// The client library (the reader side) is supported on macOS, for
// developers' machines; the writer (the node agent) is supported on Linux
// only. It builds and runs here, with the two differences below.

// readBootID reads the id of the current boot session
// (sysctl kern.bootsessionuuid).
func readBootID() ([16]byte, error) {
	s, err := unix.Sysctl("kern.bootsessionuuid")
	if err != nil {
		return [16]byte{}, fmt.Errorf("read boot id: %w", err)
	}
	return parseUUID(strings.TrimSpace(s))
}

// reserve does nothing on macOS, which has no fallocate that allocates a
// given range. A writer's store into a hole on a full disk can then fault
// (SIGBUS) where Linux reports ENOSPC.
func reserve(*os.File, int64, int64) error { return nil }

// populateWrite does nothing on macOS: pages are faulted in one at a time.
func populateWrite([]byte) {}

package cachefile

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// bootIDPath is where Linux publishes the id of the current boot.
const bootIDPath = "/proc/sys/kernel/random/boot_id"

// readBootID reads the current boot id: a UUID, as 16 bytes.
func readBootID() ([16]byte, error) {
	var id [16]byte
	b, err := os.ReadFile(bootIDPath)
	if err != nil {
		return id, fmt.Errorf("read boot id: %w", err)
	}
	return parseUUID(string(b))
}

// reserve allocates disk blocks for [off, off+n) of f, so that writing
// them through the mapping cannot fault for lack of space (a write to a
// hole on a full disk raises SIGBUS). Filesystems without fallocate are
// accepted as they are.
func reserve(f *os.File, off, n int64) error {
	if n <= 0 {
		return nil
	}
	err := unix.Fallocate(int(f.Fd()), 0, off, n)
	if err == nil || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		return nil
	}
	return fmt.Errorf("fallocate %d bytes at offset %d: %w", n, off, err)
}

// populateWrite faults the pages of b, a part of a writable mapping, in
// for writing at once (MADV_POPULATE_WRITE), rather than one fault at a
// time as the writer stores into them. It is an optimisation: old kernels
// refuse it.
func populateWrite(b []byte) { _ = unix.Madvise(b, unix.MADV_POPULATE_WRITE) }

package cachefile

import "github.com/google/uuid"

// formatID formats a log or boot identity as a UUID (8-4-4-4-12 lowercase
// hex digits), as logstore.LogID and /proc's boot_id print them, so that
// one identity reads the same in every message.
func formatID(id [16]byte) string { return uuid.UUID(id).String() }

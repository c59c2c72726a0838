package cachefile

import "encoding/hex"

// formatID formats a log or boot identity as a UUID (8-4-4-4-12 lowercase
// hex digits), as logstore.LogID and /proc's boot_id print them, so that
// one identity reads the same in every message.
func formatID(id [16]byte) string {
	var b [36]byte
	hex.Encode(b[0:8], id[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], id[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], id[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], id[8:10])
	b[23] = '-'
	hex.Encode(b[24:], id[10:])
	return string(b[:])
}

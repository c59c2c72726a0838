package sqlkit

import (
	"fmt"
	"unicode/utf8"

	"github.com/whycache/whycache/pkg/logstore"
)

// MaxNodeName is the longest node name the stores accept: a Kubernetes node
// name is a DNS subdomain of at most 253 characters.
const MaxNodeName = 253

// CheckNode validates a node name for Heartbeat.
func CheckNode(name string) error {
	if name == "" || len(name) > MaxNodeName || !utf8.ValidString(name) {
		return fmt.Errorf("node name %q must be 1 to %d bytes of UTF-8: %w", name, MaxNodeName, logstore.ErrInvalid)
	}
	return nil
}

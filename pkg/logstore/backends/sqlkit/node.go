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

// MaxHeartbeatRows bounds the rows of one statement of Heartbeats.
const MaxHeartbeatRows = 500

// HeartbeatChunks checks the node names of a batch of heartbeats, then calls
// write with chunks of at most MaxHeartbeatRows, in order.
func HeartbeatChunks(ps []logstore.NodeProgress, write func([]logstore.NodeProgress) error) error {
	for _, p := range ps {
		if err := CheckNode(p.Node); err != nil {
			return fmt.Errorf("heartbeats: %w", err)
		}
	}
	for len(ps) > 0 {
		n := min(len(ps), MaxHeartbeatRows)
		if err := write(ps[:n]); err != nil {
			return err
		}
		ps = ps[n:]
	}
	return nil
}

package mysqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/whycache/whycache/pkg/logstore"
)

// Column capacities: op_key is a MEDIUMBLOB, op_value a LONGBLOB.
const (
	maxKeyColumn   = 1<<24 - 1
	maxValueColumn = 1<<32 - 1
	// statementSlack covers the SQL text around one row's arguments.
	statementSlack = 4 << 10
)

// checkColumnLimits fails when the limits allow keys or values that the
// columns cannot hold.
func checkColumnLimits(l logstore.Limits) error {
	if l.MaxKeySize > maxKeyColumn {
		return fmt.Errorf("key size limit %d is over the op_key column's %d bytes: %w", l.MaxKeySize, maxKeyColumn, logstore.ErrInvalid)
	}
	if l.MaxValueSize > maxValueColumn {
		return fmt.Errorf("value size limit %d is over the op_value column's %d bytes: %w", l.MaxValueSize, maxValueColumn, logstore.ErrInvalid)
	}
	return nil
}

// largestRow is the most key and value bytes that one row can hold under l.
func largestRow(l logstore.Limits) int {
	return min(l.MaxKeySize+l.MaxValueSize, l.MaxUpdateSize)
}

// packetNeeded is the max_allowed_packet that a statement inserting the
// largest row needs: every byte may be escaped into two.
func packetNeeded(l logstore.Limits) int {
	return 2*largestRow(l) + statementSlack
}

// checkPacket fails with a clear message when the server's
// max_allowed_packet cannot carry the largest update the limits allow.
func checkPacket(packet int, l logstore.Limits) error {
	need := packetNeeded(l)
	if packet >= need {
		return nil
	}
	return fmt.Errorf("the server's max_allowed_packet is %d bytes, but an update within the limits "+
		"(key up to %d bytes, value up to %d bytes, update up to %d bytes) needs statements of up to %d bytes: "+
		"raise max_allowed_packet to at least %d (for example --max-allowed-packet=%dM) or lower the limits",
		packet, l.MaxKeySize, l.MaxValueSize, l.MaxUpdateSize, need, need, (need+1<<20-1)>>20)
}

// maxAllowedPacket reads the server's global max_allowed_packet, which new
// connections get.
func maxAllowedPacket(ctx context.Context, db *sql.DB) (int, error) {
	var n int
	if err := db.QueryRowContext(ctx, "SELECT @@global.max_allowed_packet").Scan(&n); err != nil {
		return 0, fmt.Errorf("read max_allowed_packet: %w", err)
	}
	return n, nil
}

// statementBytes estimates the size of the INSERT text carrying op, with
// every byte escaped.
func statementBytes(op logstore.Op) int {
	return 2*(len(op.Key)+len(op.Value)) + 64
}

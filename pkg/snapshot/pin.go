package snapshot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/whycache/whycache/pkg/logstore"
)

// rewritePinName is the object, in a log's folder, naming the snapshot the
// last safe history rewrite relied on. It has neither a manifest's nor an
// object's suffix, so listings never take it for a snapshot.
const rewritePinName = "rewrite-pin"

// rewritePin is the JSON of the rewrite pin: the same shape as the
// pointer.
type rewritePin = pointer

// PinForRewrite records that a history rewrite is about to rely on the
// snapshot m (it removes delete markers up to m's update id, so nodes away
// across it must find a snapshot at or above the raised horizon): Prune
// never deletes the pinned snapshot. There is one pin per log, and each
// rewrite moves it to the snapshot it relies on: a snapshot relied on by an
// earlier rewrite is covered by the newer one, whose update id is at or
// above it and which the raised horizon allows.
//
// Call it before rewriting, then check that m is still there (Check): a
// retention run that read the layout before the pin was written may have
// deleted it.
func (l *Layout) PinForRewrite(ctx context.Context, log logstore.LogID, m Manifest) error {
	b, err := json.Marshal(rewritePin{Manifest: m.Key, UpdateID: m.UpdateID})
	if err != nil {
		return fmt.Errorf("pin for rewrite: %w", err)
	}
	if _, err := l.store.PutBytes(ctx, l.Dir(log)+rewritePinName, b, Condition{}); err != nil {
		return fmt.Errorf("pin for rewrite: %w", err)
	}
	return nil
}

// RewritePinned returns the key of the manifest the rewrite pin names, and
// "" when there is no pin. A pin that does not parse is ErrCorrupt: Prune
// then deletes nothing, since it cannot tell which snapshot a rewrite
// relied on.
func (l *Layout) RewritePinned(ctx context.Context, log logstore.LogID) (string, error) {
	b, inf, err := l.store.GetBytes(ctx, l.Dir(log)+rewritePinName)
	if errors.Is(err, ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("rewrite pin: %w", err)
	}
	var p rewritePin
	if err := json.Unmarshal(b, &p); err != nil || p.Manifest == "" {
		return "", fmt.Errorf("rewrite pin %s: %w", inf.Key, ErrCorrupt)
	}
	return p.Manifest, nil
}

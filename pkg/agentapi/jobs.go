package agentapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The snapshot and history-rewrite commands (`whycache snapshot`,
// `whycache rewrite-history --safe`) end by printing one line of JSON that
// says what they did: a [SnapshotResult] or a [RewriteResult]. The
// controller runs them as Jobs and reads that line back as the container's
// termination message, so its shape is part of this wire protocol.
//
// The line starts with [ResultPrefix] so that it can be found among log
// lines; TerminationMessagePath is where the commands also write it when
// the file's directory exists (the Kubernetes default path).
const (
	// ResultPrefix starts the machine-readable result line.
	ResultPrefix = "whycache-result: "
	// TerminationMessagePath is Kubernetes' default termination message
	// file; the commands write their result line there when they can.
	TerminationMessagePath = "/dev/termination-log"
)

// Result kinds, the value of the "kind" field.
const (
	// KindSnapshot marks a SnapshotResult.
	KindSnapshot = "snapshot"
	// KindRewrite marks a RewriteResult.
	KindRewrite = "rewrite"
)

// ErrNoResult is returned by ParseResult when the text holds no result line.
var ErrNoResult = errors.New("agentapi: no result line")

// SnapshotResult is what one snapshot run did.
type SnapshotResult struct {
	// Kind is KindSnapshot.
	Kind string `json:"kind"`
	// UpdateID is the last update the snapshot holds.
	UpdateID uint64 `json:"update_id"`
	// Key is the snapshot object's key in its bucket.
	Key string `json:"key"`
	// Bytes is the object's size.
	Bytes int64 `json:"bytes"`
	// Seconds is how long the run took.
	Seconds float64 `json:"seconds"`
	// BytesPerSecond is the upload's throughput.
	BytesPerSecond float64 `json:"bytes_per_second"`
	// Skipped is true when the newest snapshot was already current and no
	// new object was written (Key and UpdateID then name that snapshot).
	Skipped bool `json:"skipped,omitempty"`
	// Time is when the snapshot was created.
	Time time.Time `json:"time"`
}

// RewriteResult is what one history rewrite did.
type RewriteResult struct {
	// Kind is KindRewrite.
	Kind string `json:"kind"`
	// Through is the limit up to which overwritten operations were removed.
	Through uint64 `json:"through"`
	// DeleteLimit is the limit up to which delete markers were removed.
	DeleteLimit uint64 `json:"delete_limit"`
	// Removed counts the log rows (key operations) removed.
	Removed int64 `json:"removed"`
	// Horizon is the log's horizon after the rewrite.
	Horizon uint64 `json:"horizon"`
	// SnapshotID is the update id of the snapshot the rewrite relied on
	// (it removed delete markers up to at most this id, so nodes away
	// across the rewrite bootstrap from it or a newer one); 0 when it
	// removed no delete marker. Retention never deletes that snapshot.
	SnapshotID uint64 `json:"snapshot_id,omitempty"`
	// SnapshotManifest is the key of that snapshot's manifest.
	SnapshotManifest string `json:"snapshot_manifest,omitempty"`
	// Reason says why the limits are what they are (which snapshot or node
	// bounded them), for people.
	Reason string `json:"reason,omitempty"`
	// Seconds is how long the run took.
	Seconds float64 `json:"seconds"`
	// Time is when the rewrite finished.
	Time time.Time `json:"time"`
}

// FormatResult renders v (a SnapshotResult or RewriteResult) as the
// machine-readable result line, without a trailing newline.
func FormatResult(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("agentapi: encode result: %w", err)
	}
	return ResultPrefix + string(b), nil
}

// ParseResult finds the last result line in text (a termination message or
// a log) and decodes it into a *SnapshotResult or a *RewriteResult,
// according to its kind.
func ParseResult(text string) (any, error) {
	lines := strings.Split(text, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		line := strings.TrimSpace(lines[i])
		body, ok := strings.CutPrefix(line, ResultPrefix)
		if !ok {
			continue
		}
		var head struct {
			Kind string `json:"kind"`
		}
		if err := json.Unmarshal([]byte(body), &head); err != nil {
			return nil, fmt.Errorf("agentapi: decode result: %w", err)
		}
		var v any
		switch head.Kind {
		case KindSnapshot:
			v = &SnapshotResult{}
		case KindRewrite:
			v = &RewriteResult{}
		default:
			return nil, fmt.Errorf("agentapi: unknown result kind %q", head.Kind)
		}
		if err := json.Unmarshal([]byte(body), v); err != nil {
			return nil, fmt.Errorf("agentapi: decode %s result: %w", head.Kind, err)
		}
		return v, nil
	}
	return nil, ErrNoResult
}

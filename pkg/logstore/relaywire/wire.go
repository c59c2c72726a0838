package relaywire

import (
	"strings"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
)

// PathPrefix begins the path of every call about a log: PathPrefix + name +
// "/" + call.
const PathPrefix = "/v1/logs/"

// The calls, the last element of a path.
const (
	CallOpen      = "open"
	CallRead      = "read"
	CallReplay    = "replay"
	CallLatest    = "latest"
	CallHorizon   = "horizon"
	CallWait      = "wait"
	CallAppend    = "append"
	CallRewrite   = "rewrite"
	CallHeartbeat = "heartbeat"
	CallNodes     = "nodes"
)

// The query parameters.
const (
	// ParamAfter is the id to read or wait after.
	ParamAfter = "after"
	// ParamMax is maxOps of a read.
	ParamMax = "max"
	// ParamHorizon is the horizon a replay began under.
	ParamHorizon = "horizon"
	// ParamKnown is the highest id the client knows to exist: the relay's
	// answer must reflect at least that much of the log.
	ParamKnown = "known"
	// ParamTimeout is how long, in milliseconds, a wait may block.
	ParamTimeout = "timeout_ms"
	// ParamCreate asks open to create the log when it is missing.
	ParamCreate = "create"
)

// HeaderLogID carries the identity of the log an answer is about.
const HeaderLogID = "Whycache-Log-Id"

// ContentTypeBinary is the content type of pages and append bodies.
const ContentTypeBinary = "application/x-whycache-relay"

// Path returns the path of call on the log name.
func Path(name, call string) string { return PathPrefix + name + "/" + call }

// SplitPath returns the log name and the call of a path under PathPrefix.
func SplitPath(path string) (name, call string, ok bool) {
	rest, ok := strings.CutPrefix(path, PathPrefix)
	if !ok {
		return "", "", false
	}
	name, call, ok = strings.Cut(rest, "/")
	if !ok || name == "" || call == "" || strings.Contains(call, "/") {
		return "", "", false
	}
	return name, call, true
}

// Open answers an open call.
type Open struct {
	// ID is the log's identity, as logstore.LogID.String prints it.
	ID string `json:"id"`
}

// Number answers the calls that return one id.
type Number struct {
	// N is the id.
	N uint64 `json:"n"`
}

// Heartbeat is the body of a heartbeat call.
type Heartbeat struct {
	// Node is the node's name.
	Node string `json:"node"`
	// AppliedID is the node's applied id.
	AppliedID uint64 `json:"appliedID"`
}

// Node is one entry of a nodes answer.
type Node struct {
	// Node is the node's name.
	Node string `json:"node"`
	// AppliedID is the node's applied id.
	AppliedID uint64 `json:"appliedID"`
	// Heartbeat is when the store recorded the node's last heartbeat.
	Heartbeat time.Time `json:"heartbeat"`
}

// Rewrite is the body of a rewrite call: logstore.RewriteOptions.
type Rewrite struct {
	Through     uint64 `json:"through"`
	DeleteLimit uint64 `json:"deleteLimit"`
	BatchSize   int    `json:"batchSize"`
}

// RewriteStats answers a rewrite call: logstore.RewriteStats.
type RewriteStats struct {
	Examined   int64  `json:"examined"`
	Removed    int64  `json:"removed"`
	DurationNS int64  `json:"durationNS"`
	Horizon    uint64 `json:"horizon"`
}

// NodesOf converts node progress to its wire form.
func NodesOf(ps []logstore.NodeProgress) []Node {
	out := make([]Node, len(ps))
	for i, p := range ps {
		out[i] = Node{Node: p.Node, AppliedID: p.AppliedID, Heartbeat: p.Heartbeat}
	}
	return out
}

// Progress converts nodes back to node progress.
func Progress(ns []Node) []logstore.NodeProgress {
	out := make([]logstore.NodeProgress, len(ns))
	for i, n := range ns {
		out[i] = logstore.NodeProgress{Node: n.Node, AppliedID: n.AppliedID, Heartbeat: n.Heartbeat}
	}
	return out
}

// StatsOf converts rewrite statistics to their wire form.
func StatsOf(s logstore.RewriteStats) RewriteStats {
	return RewriteStats{Examined: s.Examined, Removed: s.Removed, DurationNS: int64(s.Duration), Horizon: s.Horizon}
}

// Stats converts rewrite statistics back.
func (s RewriteStats) Stats() logstore.RewriteStats {
	return logstore.RewriteStats{Examined: s.Examined, Removed: s.Removed, Duration: time.Duration(s.DurationNS), Horizon: s.Horizon}
}

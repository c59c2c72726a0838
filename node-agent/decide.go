package nodeagent

import "fmt"

// The agent's choice of how to bring its cache file in line with the log, at
// start and whenever it finds the file unusable while running, is one pure
// function, decideStart, of what it found: the local file, the log's head
// and horizon, and the newest snapshot it could install. Gathering those
// facts and acting on the answer are I/O at the edges (reconcile.go).

// fileState is what the agent found at its cache file's path.
type fileState int

const (
	// fileNew: there was no file; the agent created an empty one.
	fileNew fileState = iota
	// fileUsable: the file opened cleanly and belongs to the log.
	fileUsable
	// fileCorrupt: the file could not be used (corrupt, unknown version) and
	// was moved aside; an empty one took its place.
	fileCorrupt
	// fileOtherLog: the file belongs to another log. The agent refuses to
	// touch it: someone pointed it at the wrong store or directory.
	fileOtherLog
)

// tipCheck is the result of comparing the fingerprint of the last update the
// agent read for this file (its id and commit time, kept beside the file)
// with that update in the log now.
type tipCheck int

const (
	// tipMatch: the log holds that update as it was read (or, after a history
	// rewrite, no longer holds it at all, which a rewrite may do).
	tipMatch tipCheck = iota
	// tipMismatch: the log holds another update at that id, or no longer
	// reaches it: the log was restored to an earlier point or failed over to
	// a replica that lost its tail, and then took new writes.
	tipMismatch
	// tipUnknown: there is no usable fingerprint for a file that holds
	// updates (written before fingerprints were kept, or lost with the
	// disk's cache in a crash), so nothing vouches for the file.
	tipUnknown
)

// snapshotState says what the configured snapshot source offers.
type snapshotState int

const (
	// snapNoSource: no snapshot source is configured; a replay of the log is
	// the only way to build a file (and a correct one at any horizon).
	snapNoSource snapshotState = iota
	// snapUnknown: a source is configured but cannot say in advance what it
	// holds (it does not implement SnapshotLister): try it.
	snapUnknown
	// snapNone: the source holds no snapshot of this log, or it failed.
	snapNone
	// snapAvailable: the source's newest snapshot of this log has the id in
	// startInputs.Snapshot.
	snapAvailable
)

// startInputs are the facts the decision needs.
type startInputs struct {
	File    fileState
	Applied uint64   // the file's applied id (0 for a new or corrupt file)
	Tip     tipCheck // meaningful when Applied > 0
	// Fault, when not empty, is why the running agent found its file
	// unusable (a label: "behind-horizon", "log-diverged", "file-truncated",
	// ...): the file must be rebuilt whatever else holds.
	Fault         string
	Head, Horizon uint64
	Snapshots     snapshotState
	Snapshot      uint64 // the newest snapshot's update id, with snapAvailable
}

// startAction is what the agent does about its file.
type startAction int

const (
	// actTail: the file is usable; tail the log from its applied id (from 0
	// for a new, empty file, which replays the log in place).
	actTail startAction = iota
	// actSnapshot: install a snapshot through the configured Bootstrapper,
	// then tail from its id.
	actSnapshot
	// actReplay: build a file by replaying the whole log, install it, then
	// tail.
	actReplay
	// actWait: nothing can rebuild the file now; retry later, not ready.
	actWait
	// actRefuse: stop with an error; retrying cannot help.
	actRefuse
)

var actionNames = [...]string{actTail: "tail", actSnapshot: "snapshot", actReplay: "replay", actWait: "wait", actRefuse: "refuse"}

// String returns the action's metric label.
func (a startAction) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return fmt.Sprintf("startAction(%d)", int(a))
}

// startDecision is the answer: an action, a reason (a short label for
// metrics) and a sentence for the logs.
type startDecision struct {
	Action startAction
	Reason string
	Detail string
}

// decideStart chooses how the agent brings its file in line with the log:
//
//   - a usable file that is not ahead of the log's head, whose fingerprint
//     matches the log and that is at or above the horizon: tail from it;
//   - otherwise the file must be rebuilt (the reason says why): from the
//     newest snapshot when its id is within [horizon, head]; else by a replay
//     of the log when the horizon is 0 or no snapshot source is configured
//     (a replay from id 0 is correct at any horizon, but with a snapshot
//     source the horizon above 0 says a snapshot should cover it, and a full
//     replay from every node at once is the load snapshots exist to avoid);
//     else wait and retry.
//
// An empty file (new, or put in place of a corrupt one) that may replay
// tails from 0 instead: that is a replay, in place. A file of another log is refused.
func decideStart(in startInputs) startDecision {
	if in.File == fileOtherLog {
		return startDecision{actRefuse, "other-log", "the cache file belongs to another log"}
	}
	reason, detail := rebuildReason(in)
	if reason == "" {
		return startDecision{actTail, "local", fmt.Sprintf("the file at update %d is usable (log head %d, horizon %d)", in.Applied, in.Head, in.Horizon)}
	}
	return chooseSource(in, reason, detail)
}

// rebuildReason says why the local file cannot be tailed from, or "" when
// it can.
func rebuildReason(in startInputs) (reason, detail string) {
	switch {
	case in.Fault != "":
		return in.Fault, "the running agent found the file unusable"
	case in.File == fileCorrupt:
		return "corrupt", "the file was unusable and was moved aside"
	case in.File == fileNew || in.Applied == 0:
		return "new", "there is no file yet"
	case in.Applied > in.Head:
		return "ahead-of-log", fmt.Sprintf("the file holds update %d but the log ends at %d: the log was restored or replaced, and updates the file holds may be lost or reused", in.Applied, in.Head)
	case in.Applied < in.Horizon:
		return "behind-horizon", fmt.Sprintf("the file at update %d is behind the log's horizon %d", in.Applied, in.Horizon)
	case in.Tip == tipMismatch:
		return "log-diverged", fmt.Sprintf("the log's history up to update %d is not the one the file was built from: the log was restored or failed over", in.Applied)
	case in.Tip == tipUnknown:
		return "unverified", fmt.Sprintf("nothing records which update %d the file holds, so it cannot be checked against the log", in.Applied)
	}
	return "", ""
}

// chooseSource picks how to rebuild the file.
func chooseSource(in startInputs, reason, detail string) startDecision {
	switch {
	case in.Snapshots == snapUnknown:
		return startDecision{actSnapshot, reason, detail + "; trying the snapshot source"}
	case in.Snapshots == snapAvailable && in.Snapshot >= in.Horizon && in.Snapshot <= in.Head:
		return startDecision{actSnapshot, reason, fmt.Sprintf("%s; installing the snapshot at update %d", detail, in.Snapshot)}
	case in.Snapshots == snapNoSource || in.Horizon == 0:
		if in.Applied == 0 && in.Fault == "" {
			return startDecision{actTail, reason, detail + "; replaying the log into the new file"}
		}
		return startDecision{actReplay, reason, detail + "; replaying the log"}
	}
	why := "the snapshot source has none"
	if in.Snapshots == snapAvailable {
		why = fmt.Sprintf("its newest snapshot, at update %d, is outside the log's [horizon %d, head %d]", in.Snapshot, in.Horizon, in.Head)
	}
	return startDecision{actWait, reason, fmt.Sprintf("%s; no snapshot to install (%s) and the log's horizon is %d, so a replay cannot be the fallback; retrying", detail, why, in.Horizon)}
}

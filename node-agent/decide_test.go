package nodeagent

import (
	"testing"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
)

func TestDecideStart(t *testing.T) {
	usable := func(applied, head, horizon uint64) startInputs {
		return startInputs{File: fileUsable, Applied: applied, Tip: tipMatch, Head: head, Horizon: horizon}
	}
	with := func(in startInputs, f func(*startInputs)) startInputs { f(&in); return in }
	snap := func(s snapshotState, id uint64) func(*startInputs) {
		return func(in *startInputs) { in.Snapshots, in.Snapshot = s, id }
	}
	tests := []struct {
		name   string
		in     startInputs
		action startAction
		reason string
	}{
		{"usable file tails", usable(10, 20, 5), actTail, "local"},
		{"usable file at the head tails", usable(20, 20, 0), actTail, "local"},
		{"usable file at the horizon tails", usable(5, 20, 5), actTail, "local"},
		{"file of another log is refused", startInputs{File: fileOtherLog}, actRefuse, "other-log"},

		{"ahead of the log, replay-only agent replays", usable(30, 20, 0), actReplay, "ahead-of-log"},
		{"ahead of the log even with a matching tip", with(usable(30, 20, 5), snap(snapNoSource, 0)), actReplay, "ahead-of-log"},
		{"ahead of the log, snapshot in range", with(usable(30, 20, 5), snap(snapAvailable, 15)), actSnapshot, "ahead-of-log"},
		{"ahead of the log, snapshot ahead too, horizon 0: replay", with(usable(30, 20, 0), snap(snapAvailable, 25)), actReplay, "ahead-of-log"},
		{"ahead of the log, snapshot ahead too, horizon up: wait", with(usable(30, 20, 5), snap(snapAvailable, 25)), actWait, "ahead-of-log"},
		{"log diverged", with(usable(10, 20, 0), func(in *startInputs) { in.Tip = tipMismatch }), actReplay, "log-diverged"},
		{"no fingerprint", with(usable(10, 20, 0), func(in *startInputs) { in.Tip = tipUnknown }), actReplay, "unverified"},
		{"behind the horizon before the tip is looked at", with(usable(3, 20, 5), func(in *startInputs) { in.Tip = tipUnknown }), actReplay, "behind-horizon"},

		{"new file, replay-only agent, replays in place", startInputs{File: fileNew, Head: 20}, actTail, "new"},
		{"new file, replay-only agent, rewritten log: still in place", startInputs{File: fileNew, Head: 20, Horizon: 7}, actTail, "new"},
		{"new file, snapshot source that cannot list: try it", with(startInputs{File: fileNew, Head: 20, Horizon: 7}, snap(snapUnknown, 0)), actSnapshot, "new"},
		{"new file, snapshot at the horizon", with(startInputs{File: fileNew, Head: 20, Horizon: 7}, snap(snapAvailable, 7)), actSnapshot, "new"},
		{"new file, snapshot at the head", with(startInputs{File: fileNew, Head: 20, Horizon: 7}, snap(snapAvailable, 20)), actSnapshot, "new"},
		{"new file, snapshot below the horizon, horizon up: wait", with(startInputs{File: fileNew, Head: 20, Horizon: 7}, snap(snapAvailable, 6)), actWait, "new"},
		{"new file, no snapshot, horizon 0: replay in place", with(startInputs{File: fileNew, Head: 20}, snap(snapNone, 0)), actTail, "new"},
		{"new file, no snapshot, horizon up: wait", with(startInputs{File: fileNew, Head: 20, Horizon: 1}, snap(snapNone, 0)), actWait, "new"},
		{"empty usable file counts as new", usable(0, 20, 0), actTail, "new"},
		{"corrupt file, replay-only agent: in place", startInputs{File: fileCorrupt, Head: 20}, actTail, "corrupt"},
		{"corrupt file, snapshot", with(startInputs{File: fileCorrupt, Head: 20, Horizon: 3}, snap(snapAvailable, 19)), actSnapshot, "corrupt"},

		{"fault wins over a usable file", with(usable(10, 20, 0), func(in *startInputs) { in.Fault = "file-truncated" }), actReplay, "file-truncated"},
		{"fault on an empty file replays into a new one", with(usable(0, 20, 0), func(in *startInputs) { in.Fault = "file-overwritten" }), actReplay, "file-overwritten"},
		{"fault, snapshot", with(usable(10, 20, 8), func(in *startInputs) { in.Fault = "behind-horizon"; in.Snapshots, in.Snapshot = snapAvailable, 12 }), actSnapshot, "behind-horizon"},
		{"fault, no snapshot, horizon up: wait", with(usable(10, 20, 8), func(in *startInputs) { in.Fault = "behind-horizon"; in.Snapshots = snapNone }), actWait, "behind-horizon"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := decideStart(tt.in)
			if d.Action != tt.action || d.Reason != tt.reason {
				t.Fatalf("decideStart(%+v) = %s (%s), want %s (%s)", tt.in, d.Action, d.Reason, tt.action, tt.reason)
			}
			if d.Detail == "" {
				t.Error("no detail for the logs")
			}
		})
	}
}

func TestCheckTip(t *testing.T) {
	t0 := time.Unix(1700000000, 123456789)
	at := func(id uint64, tm time.Time) *logstore.Update { return &logstore.Update{ID: id, Time: tm} }
	tests := []struct {
		name  string
		tip   tip
		first *logstore.Update
		head  uint64
		want  tipCheck
	}{
		{"same update", tip{5, t0}, at(5, t0), 9, tipMatch},
		{"same instant, other location", tip{5, t0}, at(5, t0.UTC()), 9, tipMatch},
		{"another update at the id", tip{5, t0}, at(5, t0.Add(time.Microsecond)), 9, tipMismatch},
		{"removed by a rewrite", tip{5, t0}, at(7, t0), 9, tipMatch},
		{"removed, and nothing after", tip{5, t0}, nil, 5, tipMatch},
		{"log ends before it", tip{5, t0}, nil, 4, tipMismatch},
		{"recorded absent, still absent", tip{5, time.Time{}}, at(6, t0), 9, tipMatch},
		{"recorded absent, now present", tip{5, time.Time{}}, at(5, t0), 9, tipMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := checkTip(tt.tip, tt.first, tt.head); got != tt.want {
				t.Fatalf("checkTip = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestTipEncoding(t *testing.T) {
	id := logstore.NewLogID()
	for _, tp := range []tip{{5, time.Unix(0, 1700000000123456789)}, {1 << 60, time.Time{}}, {0, time.Time{}}} {
		got, err := decodeTip(encodeTip(id, tp), id)
		if err != nil || got.ID != tp.ID || !got.Time.Equal(tp.Time) {
			t.Errorf("round trip of %+v = %+v, %v", tp, got, err)
		}
	}
	good := encodeTip(id, tip{5, time.Unix(7, 0)})
	if _, err := decodeTip(good, logstore.NewLogID()); err == nil {
		t.Error("a tip of another log decoded")
	}
	for i := range good {
		bad := append([]byte(nil), good...)
		bad[i] ^= 1
		if _, err := decodeTip(bad, id); err == nil {
			t.Errorf("a tip with byte %d flipped decoded", i)
		}
	}
	if _, err := decodeTip(good[:tipLen-1], id); err == nil {
		t.Error("a short tip decoded")
	}
}

func FuzzDecodeTip(f *testing.F) {
	id := logstore.LogID{1, 2, 3}
	f.Add(encodeTip(id, tip{5, time.Unix(7, 0)}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		tp, err := decodeTip(b, id)
		if err != nil {
			return
		}
		again := encodeTip(id, tp)
		if string(again) != string(b) {
			t.Fatalf("decoded %x to %+v, which encodes to %x", b, tp, again)
		}
	})
}

package nodeagent

import (
	"context"
	"errors"
	"fmt"

	"github.com/whycache/whycache/pkg/logstore"
)

// SnapshotLister is implemented by a Bootstrapper that installs snapshots
// and can say, before it is asked to, which one it would install. The agent
// uses it to choose between the snapshot, a replay of the log and waiting
// (see decideStart); a Bootstrapper without it is simply tried.
type SnapshotLister interface {
	// NewestSnapshot returns the update id of the newest snapshot of the
	// store's log that the Bootstrapper could install, and false when it has
	// none. An error means the source could not be asked (it is counted and
	// logged, and the agent decides as if there were none).
	NewestSnapshot(ctx context.Context, store logstore.Store) (uint64, bool, error)
}

// faultError says that the running agent found its file unusable; the file
// must be rebuilt. reason is a label for logs and metrics.
type faultError struct {
	reason string
	err    error
}

func (e *faultError) Error() string { return fmt.Sprintf("%s: %v", e.reason, e.err) }
func (e *faultError) Unwrap() error { return e.err }

// errWaiting means that nothing could rebuild the file now (see actWait).
var errWaiting = errors.New("no way to rebuild the cache file yet")

// reconcile brings the file in line with the log: it gathers the facts,
// asks decideStart, and acts. fault is why the running agent found the file
// unusable, or "" at start. On success the agent may tail from a.tip.
func (a *Agent) reconcile(ctx context.Context, fault string) error {
	in, err := a.gather(ctx, fault)
	if err != nil {
		return err
	}
	d := decideStart(in)
	if d.Action == actSnapshot {
		err = a.install(ctx, a.cfg.Bootstrap, d)
		if err == nil {
			return nil
		}
		// The snapshot source failed: decide again without it.
		a.log.Error(err, "snapshot bootstrap failed", "reason", d.Reason)
		a.metrics.bootstrapFailures.WithLabelValues("snapshot").Inc()
		in.Snapshots = snapNone
		d = decideStart(in)
	}
	return a.act(ctx, d)
}

// act carries out a decision other than a snapshot that was tried.
func (a *Agent) act(ctx context.Context, d startDecision) error {
	a.metrics.decisions.WithLabelValues(d.Action.String(), d.Reason).Inc()
	switch d.Action {
	case actRefuse:
		return fmt.Errorf("%s: %w", d.Detail, errRefused)
	case actWait:
		a.log.Info("cannot rebuild the cache file yet", "reason", d.Reason, "detail", d.Detail)
		return fmt.Errorf("%s: %w", d.Detail, errWaiting)
	case actSnapshot:
		return a.install(ctx, a.cfg.Bootstrap, d)
	case actReplay:
		return a.install(ctx, a.replayer(), d)
	}
	if d.Reason != "local" {
		a.log.Info("cache file decision", "action", d.Action.String(), "reason", d.Reason, "detail", d.Detail)
	}
	return a.setTip(ctx, a.w.UpdateID(), false)
}

// errRefused wraps a decision to stop: retrying cannot help.
var errRefused = errors.New("refusing the cache file")

// replayer returns the Bootstrapper that replays the log.
func (a *Agent) replayer() Bootstrapper {
	if r, ok := a.cfg.Bootstrap.(ReplayBootstrapper); ok {
		return r
	}
	return ReplayBootstrapper{PageOps: a.cfg.PageOps, PageBytes: a.cfg.BatchBytes / 4}
}

// install rebuilds the file with b and records the new tip.
func (a *Agent) install(ctx context.Context, b Bootstrapper, d startDecision) error {
	a.metrics.decisions.WithLabelValues(d.Action.String(), d.Reason).Inc()
	a.log.Info("rebuilding the cache file", "action", d.Action.String(), "reason", d.Reason, "detail", d.Detail)
	if err := a.bootstrap(ctx, b, d.Reason); err != nil {
		return err
	}
	// A snapshot taken before the log was restored may be ahead of it.
	head, err := a.store.Latest(ctx)
	if err != nil {
		return fmt.Errorf("read the log's head: %w", err)
	}
	if applied := a.w.UpdateID(); applied > head {
		return fmt.Errorf("the installed file holds update %d, past the log's head %d", applied, head)
	}
	return a.setTip(ctx, a.w.UpdateID(), true)
}

// gather collects the decision's inputs.
func (a *Agent) gather(ctx context.Context, fault string) (startInputs, error) {
	in := startInputs{File: a.opened, Applied: a.w.UpdateID(), Fault: fault}
	var err error
	if in.Head, err = a.store.Latest(ctx); err != nil {
		return in, fmt.Errorf("read the log's head: %w", err)
	}
	if in.Horizon, err = a.store.Horizon(ctx); err != nil {
		return in, fmt.Errorf("read the log's horizon: %w", err)
	}
	a.contact()
	a.head.Store(in.Head) // it may be lower than before: the log was restored
	a.observeHead(in.Head)
	if fault == "" && in.Applied > 0 && in.Applied <= in.Head && in.Applied >= in.Horizon {
		if in.Tip, err = a.checkRecordedTip(ctx, in.Applied, in.Horizon, in.Head); err != nil {
			return in, err
		}
	}
	in.Snapshots, in.Snapshot = a.newestSnapshot(ctx)
	return in, nil
}

// checkRecordedTip compares the tip recorded beside the file with the log.
func (a *Agent) checkRecordedTip(ctx context.Context, applied, horizon, head uint64) (tipCheck, error) {
	t, err := a.tipf.read()
	if err != nil {
		a.log.Info("no usable fingerprint of the cache file's last update", "error", err.Error())
		return tipUnknown, nil
	}
	if t.ID < applied {
		a.log.Info("the fingerprint of the cache file's last update is older than the file", "tipID", t.ID, "appliedID", applied)
		return tipUnknown, nil
	}
	first, err := probeTip(ctx, a.store, t.ID, horizon)
	if err != nil {
		return tipUnknown, err
	}
	return checkTip(t, first, head), nil
}

// newestSnapshot asks the snapshot source what it holds.
func (a *Agent) newestSnapshot(ctx context.Context) (snapshotState, uint64) {
	if _, replay := a.cfg.Bootstrap.(ReplayBootstrapper); replay {
		return snapNoSource, 0
	}
	l, ok := a.cfg.Bootstrap.(SnapshotLister)
	if !ok {
		return snapUnknown, 0
	}
	id, found, err := l.NewestSnapshot(ctx, a.store)
	switch {
	case err != nil:
		a.log.Error(err, "cannot list snapshots")
		a.metrics.bootstrapFailures.WithLabelValues("list").Inc()
		return snapNone, 0
	case !found:
		return snapNone, 0
	}
	return snapAvailable, id
}

// setTip reads the fingerprint of update id from the log and makes it the
// agent's tip, recording it beside the file (durably when record is set).
func (a *Agent) setTip(ctx context.Context, id uint64, record bool) error {
	t := tip{ID: id}
	if id > 0 {
		h, err := a.store.Horizon(ctx)
		if err != nil {
			return fmt.Errorf("read the log's horizon: %w", err)
		}
		u, err := probeTip(ctx, a.store, id, h)
		if err != nil {
			return err
		}
		if u != nil && u.ID == id {
			t = tipOf(*u)
		}
	}
	a.tip = t
	if !record {
		return nil
	}
	if err := a.tipf.write(t); err != nil {
		return err
	}
	return a.tipf.sync()
}

// faultReason returns the reason of a *faultError, or "".
func faultReason(err error) string {
	if fe, ok := errors.AsType[*faultError](err); ok {
		return fe.reason
	}
	if errors.Is(err, logstore.ErrBehindHorizon) {
		return "behind-horizon"
	}
	return ""
}

// notReady records why the agent is not ready, for /readyz ("" clears it).
func (a *Agent) notReady(why string) { a.fault.Store(why) }

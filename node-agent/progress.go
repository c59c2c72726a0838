package nodeagent

import (
	"time"

	"github.com/go-logr/logr"
)

// progressInterval is how often a long catch-up logs how far it is.
const progressInterval = 10 * time.Second

// catchUpProgress reports a catch-up that takes long: a node far behind
// (a restart after days, a large log) says how far it is and when it
// expects to be done, instead of staying silent until ready.
type catchUpProgress struct {
	start, last time.Time
	from        uint64 // applied id when the catch-up started
	logged      bool
}

func newCatchUpProgress(now time.Time, from uint64) *catchUpProgress {
	return &catchUpProgress{start: now, last: now, from: from}
}

// progressReport is what a catch-up says at one point.
type progressReport struct {
	applied, head, remaining uint64
	perSecond                float64
	eta                      time.Duration
}

// due decides whether to report at now, and what: every progressInterval,
// with the rate since the start and the time left at that rate.
func (p *catchUpProgress) due(now time.Time, applied, head uint64) (progressReport, bool) {
	if now.Sub(p.last) < progressInterval {
		return progressReport{}, false
	}
	r := progressReport{applied: applied, head: head, remaining: head - min(applied, head)}
	if secs := now.Sub(p.start).Seconds(); secs > 0 {
		r.perSecond = float64(applied-min(p.from, applied)) / secs
	}
	if r.perSecond > 0 {
		r.eta = time.Duration(float64(r.remaining) / r.perSecond * float64(time.Second)).Round(time.Second)
	}
	return r, true
}

// report logs the catch-up's progress when it is due; latest asks the log
// for its latest id (one call per report).
func (p *catchUpProgress) report(log logr.Logger, now time.Time, applied uint64, latest func() uint64) {
	if now.Sub(p.last) < progressInterval {
		return
	}
	r, _ := p.due(now, applied, latest())
	p.last, p.logged = now, true
	log.Info("catching up with the log", "appliedID", r.applied, "headID", r.head, "remaining", r.remaining,
		"updatesPerSecond", int64(r.perSecond), "eta", r.eta.String())
}

// done logs the end of a catch-up that reported its progress.
func (p *catchUpProgress) done(log logr.Logger, now time.Time, applied uint64) {
	if p.logged {
		log.Info("caught up with the log", "appliedID", applied, "updates", applied-min(p.from, applied),
			"took", now.Sub(p.start).Round(time.Millisecond).String())
	}
}

package controllers

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
)

// maxMissedCount bounds how many missed runs are counted, so that an old
// last run with a frequent schedule costs bounded work.
const maxMissedCount = 100

// parseSchedule parses a cron expression as the spec allows it (five
// fields, a descriptor such as @hourly, an optional CRON_TZ= prefix).
func parseSchedule(expr string) (cron.Schedule, error) {
	s, err := cron.ParseStandard(expr)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w", expr, err)
	}
	return s, nil
}

// scheduleInput is what decides whether a scheduled Job is due.
type scheduleInput struct {
	// Schedule is the parsed cron schedule.
	Schedule cron.Schedule
	// Suspend stops new runs.
	Suspend bool
	// Last is the scheduled time of the newest run created, or the
	// instance's creation time before the first.
	Last time.Time
	// Deadline is how late a run may start.
	Deadline time.Duration
	// Active is true while a Job of this kind runs (concurrency is
	// forbidden).
	Active bool
	// Now is the current time.
	Now time.Time
}

// scheduleDecision says what to do about one schedule now.
type scheduleDecision struct {
	// Due is the scheduled time of the run to start now; zero when none.
	Due time.Time
	// Blocked is true when a run is due but the previous one is still
	// active: it starts once that one ends, if still within the deadline.
	Blocked bool
	// Missed counts the scheduled times since Last that can no longer
	// start: older than the deadline, or superseded by a later one.
	Missed int
	// Next is the first scheduled time after Now; zero when suspended.
	Next time.Time
}

// decideSchedule is the cron logic of kubebuilder's CronJob tutorial and
// of Kubernetes' CronJob controller, reduced to a pure function: only the
// newest scheduled time within the deadline runs; earlier ones are missed.
func decideSchedule(in scheduleInput) scheduleDecision {
	if in.Suspend || in.Schedule == nil {
		return scheduleDecision{}
	}
	d := scheduleDecision{Next: in.Schedule.Next(in.Now)}
	earliest := in.Now.Add(-in.Deadline)
	t := in.Schedule.Next(in.Last)
	// Runs older than the deadline: counted (up to a bound), never run.
	for ; !t.IsZero() && t.Before(earliest) && !t.After(in.Now); t = in.Schedule.Next(t) {
		d.Missed++
		if d.Missed >= maxMissedCount {
			t = in.Schedule.Next(earliest.Add(-time.Nanosecond))
			break
		}
	}
	// Runs within the deadline: the newest one is due, the others missed.
	for ; !t.IsZero() && !t.After(in.Now); t = in.Schedule.Next(t) {
		if !d.Due.IsZero() && d.Missed < maxMissedCount {
			d.Missed++
		}
		d.Due = t
	}
	if !d.Due.IsZero() && in.Active {
		d.Blocked = true
	}
	return d
}

// requeueAfter is how long to wait until the earliest of the given times
// (zero times are ignored), and at most limit.
func requeueAfter(now time.Time, limit time.Duration, times ...time.Time) time.Duration {
	wait := limit
	for _, t := range times {
		if t.IsZero() {
			continue
		}
		if d := t.Sub(now); d < wait {
			wait = d
		}
	}
	// A schedule's times are whole seconds; a short floor avoids a hot loop
	// when the clock is a hair early.
	return max(wait, time.Second)
}

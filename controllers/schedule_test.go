package controllers

import (
	"testing"
	"time"
)

func TestDecideSchedule(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	hourly, err := parseSchedule("0 * * * *")
	if err != nil {
		t.Fatal(err)
	}
	everyMinute, err := parseSchedule("* * * * *")
	if err != nil {
		t.Fatal(err)
	}
	const deadline = 5 * time.Minute
	for _, tc := range []struct {
		name string
		in   scheduleInput
		want scheduleDecision
	}{
		{
			name: "nothing due before the first time",
			in:   scheduleInput{Schedule: hourly, Last: at("2026-01-01T10:10:00Z"), Now: at("2026-01-01T10:59:59Z"), Deadline: deadline},
			want: scheduleDecision{Next: at("2026-01-01T11:00:00Z")},
		},
		{
			name: "due at its time",
			in:   scheduleInput{Schedule: hourly, Last: at("2026-01-01T10:10:00Z"), Now: at("2026-01-01T11:00:00Z"), Deadline: deadline},
			want: scheduleDecision{Due: at("2026-01-01T11:00:00Z"), Next: at("2026-01-01T12:00:00Z")},
		},
		{
			name: "late within the deadline still runs",
			in:   scheduleInput{Schedule: hourly, Last: at("2026-01-01T10:00:00Z"), Now: at("2026-01-01T11:04:59Z"), Deadline: deadline},
			want: scheduleDecision{Due: at("2026-01-01T11:00:00Z"), Next: at("2026-01-01T12:00:00Z")},
		},
		{
			name: "never twice: the run already created is not due again",
			in:   scheduleInput{Schedule: hourly, Last: at("2026-01-01T11:00:00Z"), Now: at("2026-01-01T11:00:30Z"), Deadline: deadline},
			want: scheduleDecision{Next: at("2026-01-01T12:00:00Z")},
		},
		{
			name: "missed past the deadline",
			in:   scheduleInput{Schedule: hourly, Last: at("2026-01-01T10:00:00Z"), Now: at("2026-01-01T11:06:00Z"), Deadline: deadline},
			want: scheduleDecision{Missed: 1, Next: at("2026-01-01T12:00:00Z")},
		},
		{
			name: "several missed, the newest within the deadline runs",
			in:   scheduleInput{Schedule: hourly, Last: at("2026-01-01T07:00:00Z"), Now: at("2026-01-01T11:01:00Z"), Deadline: deadline},
			want: scheduleDecision{Due: at("2026-01-01T11:00:00Z"), Missed: 3, Next: at("2026-01-01T12:00:00Z")},
		},
		{
			name: "superseded within the deadline counts as missed",
			in:   scheduleInput{Schedule: everyMinute, Last: at("2026-01-01T10:00:00Z"), Now: at("2026-01-01T10:03:00Z"), Deadline: deadline},
			want: scheduleDecision{Due: at("2026-01-01T10:03:00Z"), Missed: 2, Next: at("2026-01-01T10:04:00Z")},
		},
		{
			name: "missed count is bounded",
			in:   scheduleInput{Schedule: everyMinute, Last: at("2025-01-01T00:00:00Z"), Now: at("2026-01-01T10:00:00Z"), Deadline: deadline},
			want: scheduleDecision{Due: at("2026-01-01T10:00:00Z"), Missed: maxMissedCount, Next: at("2026-01-01T10:01:00Z")},
		},
		{
			name: "blocked while the previous run is active",
			in:   scheduleInput{Schedule: hourly, Last: at("2026-01-01T10:00:00Z"), Now: at("2026-01-01T11:00:00Z"), Deadline: deadline, Active: true},
			want: scheduleDecision{Due: at("2026-01-01T11:00:00Z"), Blocked: true, Next: at("2026-01-01T12:00:00Z")},
		},
		{
			name: "suspended",
			in:   scheduleInput{Schedule: hourly, Suspend: true, Last: at("2026-01-01T10:00:00Z"), Now: at("2026-01-01T11:00:00Z"), Deadline: deadline},
			want: scheduleDecision{},
		},
		{
			name: "no schedule",
			in:   scheduleInput{Last: at("2026-01-01T10:00:00Z"), Now: at("2026-01-01T11:00:00Z"), Deadline: deadline},
			want: scheduleDecision{},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := decideSchedule(tc.in)
			if !got.Due.Equal(tc.want.Due) || got.Blocked != tc.want.Blocked || got.Missed != tc.want.Missed || !got.Next.Equal(tc.want.Next) {
				t.Errorf("decideSchedule = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestParseScheduleRejects(t *testing.T) {
	// What the CRD's pattern lets through but a cron parser refuses.
	for _, expr := range []string{"61 * * * *", "* 25 * * *", "* * 0 * *", "* * * 13 *", "* * * * 8", "CRON_TZ=Nowhere/Atlantis 0 * * * *"} {
		if _, err := parseSchedule(expr); err == nil {
			t.Errorf("parseSchedule(%q) succeeded, want an error", expr)
		}
	}
}

func TestRequeueAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		times []time.Time
		want  time.Duration
	}{
		{"no times: the limit", nil, 30 * time.Second},
		{"zero times ignored", []time.Time{{}}, 30 * time.Second},
		{"earliest wins", []time.Time{now.Add(20 * time.Second), now.Add(10 * time.Second)}, 10 * time.Second},
		{"past times floor at a second", []time.Time{now.Add(-time.Minute)}, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := requeueAfter(now, 30*time.Second, tc.times...); got != tc.want {
				t.Errorf("requeueAfter = %v, want %v", got, tc.want)
			}
		})
	}
}

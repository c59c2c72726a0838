// Package controllers runs WhycacheInstance objects: one reconciler that
// owns each instance's agent DaemonSet, its ServiceAccount, and the
// snapshot and history-rewrite Jobs it creates on their cron schedules,
// and that reports what it sees (the children, and the log store itself)
// in the instance's status.
//
// The decisions are pure functions of their inputs with the time passed
// in: what is due (schedule.go), what the status says (status.go), what
// the children look like (agent.go, jobs.go). Reconcile gathers the
// inputs, calls them and acts on the answers (reconciler.go).
//
// The package never imports node-agent or pkg/cachefile: the agent's
// command line comes from pkg/agentapi, which the agent's CLI uses too.
package controllers

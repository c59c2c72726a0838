//go:build race

package mysqlstore

// raceEnabled reports whether the race detector is on.
const raceEnabled = true

//go:build !race

package relaystore

// raceEnabled reports whether the race detector is on.
const raceEnabled = false

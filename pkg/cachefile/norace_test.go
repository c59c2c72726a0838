//go:build !race

package cachefile

const raceEnabled = false

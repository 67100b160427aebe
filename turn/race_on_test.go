//go:build race

package turn_test

// raceEnabled: the race detector allocates on its own, so allocation
// counts are not the server's.
const raceEnabled = true

//go:build !linux

package e2e

// inOwnNetwork is Linux only; elsewhere the tests run on the host's interfaces.
func inOwnNetwork() (int, bool) { return 0, false }

// setUpNetwork has nothing to do outside Linux.
func setUpNetwork() error { return nil }

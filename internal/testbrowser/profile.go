package testbrowser

import "os"

// tempProfile makes a fresh profile directory for a browser of engine e.
func tempProfile(e Engine) (string, error) {
	return os.MkdirTemp("", "sprechzimmer-e2e-"+string(e)+"-")
}

// removeProfile removes a profile directory; a browser that is still
// writing at exit may leave a file behind, which is not worth an error.
func removeProfile(dir string) { _ = os.RemoveAll(dir) }

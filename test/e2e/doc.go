// Package e2e holds the end-to-end tests of the browser client: real
// Chromium pages, driven with chromedp, talking to a real signaling server
// and to each other over WebRTC on the loopback interface.
//
// Run them with `go test ./test/e2e/`. They need /usr/bin/chromium (or the
// path in SPRECHZIMMER_CHROMIUM); without it they are skipped, except when
// CI=true, where a missing browser fails the run. With SCREENSHOTS=1 they
// write docs/screenshots/*.png.
//
// On Linux, when run as root, the test binary re-runs itself in a network
// namespace of its own that holds only the loopback interface, so neither
// the browsers nor the WebRTC peers can send a packet anywhere else.
package e2e

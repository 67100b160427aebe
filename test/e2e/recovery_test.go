package e2e

import "testing"

// TestPathDecisions runs the decisions of recovery.js (is the path
// broken?) and call.js (is an offer from another peer connection?) on
// tables, in each engine.
func TestPathDecisions(t *testing.T) { forEachEngine(t, testPathDecisions) }

func testPathDecisions(t *testing.T, _ engine) {
	r := startRoom(t, roomOptions{})
	p := openPage(t, "path decisions", r.URL+"index.html")

	const sdpA = `"v=0\r\na=fingerprint:sha-256 AA:BB\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ice-ufrag:x1\r\na=fingerprint:sha-256 AA:BB\r\n"`
	tests := []struct {
		name string
		call string // JavaScript with rc (recovery.js) and cl (call.js) in scope
		want any
	}{
		{"connected, media arriving", `rc.isBroken({ice: "connected", stalledMs: 200, flowed: true})`, false},
		{"connected, no media for longer than the stall limit", `rc.isBroken({ice: "connected", stalledMs: rc.STALL_MS, flowed: true})`, true},
		{"completed (Firefox), no media", `rc.isBroken({ice: "completed", stalledMs: rc.STALL_MS + 1, flowed: true})`, true},
		{"no media ever (the other sends nothing): not a break", `rc.isBroken({ice: "connected", stalledMs: 60000, flowed: false})`, false},
		{"disconnected", `rc.isBroken({ice: "disconnected", stalledMs: 0, flowed: true})`, true},
		{"failed", `rc.isBroken({ice: "failed", stalledMs: 0, flowed: false})`, true},
		{"checking (a restart under way) is not a new break", `rc.isBroken({ice: "checking", stalledMs: 60000, flowed: true})`, false},
		{"packets summed over inbound streams", `rc.packetsIn(new Map([["a", {type: "inbound-rtp", packetsReceived: 10}], ["v", {type: "inbound-rtp", packetsReceived: 5}], ["o", {type: "outbound-rtp", packetsSent: 99}]]))`, 5 + 10},

		{"same certificate, new ICE credentials (a restart)", `cl.fingerprints(` + sdpA + `) === cl.fingerprints(` + sdpA + `.replace("x1", "y2"))`, true},
		{"another certificate (a new peer connection)", `cl.fingerprints(` + sdpA + `) === cl.fingerprints(` + sdpA + `.replaceAll("AA:BB", "CC:DD"))`, false},
		{"case and line endings do not matter", `cl.fingerprints(` + sdpA + `) === cl.fingerprints(` + sdpA + `.replaceAll("\r\n", "\n").replaceAll("AA:BB", "aa:bb"))`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertEvalsTo(t, p, `(async () => {
				const rc = await import("./recovery.js");
				const cl = await import("./call.js");
				return %s;
			})()`, tt.call, tt.want)
		})
	}
}

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
	// breakAndRestore is a function of the video frames this side's encoder
	// counts when the path is back: a PathKeeper on a stand-in peer
	// connection sees media flow (100 frames sent), stall for STALL_MS, and
	// come back; it returns the "restored" event's newEncoder.
	const breakAndRestore = `(async (framesWhenBack) => {
		const pc = Object.assign(new EventTarget(), {iceConnectionState: "connected", signalingState: "stable", remoteDescription: null, restartIce() {}});
		let packets = 10, frames = 100;
		pc.getStats = async () => new Map([["i", {type: "inbound-rtp", kind: "audio", packetsReceived: packets}], ["o", {type: "outbound-rtp", kind: "video", framesEncoded: frames}]]);
		const keeper = new rc.PathKeeper(pc, false, () => {});
		clearInterval(keeper.sampler); // this test reads the counters itself
		let restored = null;
		keeper.addEventListener("restored", (e) => { restored = e.detail; });
		await keeper.sample();
		keeper.lastPacketAt -= rc.STALL_MS;
		frames = 110;
		await keeper.sample();
		const broken = keeper.broken;
		packets = 20;
		frames = framesWhenBack;
		await keeper.sample();
		keeper.close();
		return broken && restored ? restored.newEncoder : "not broken and restored: " + broken;
	})`
	// answerAgain is a function of two origin lines (o=): two Calls in
	// this page, negotiated by hand, the offerer's offer handed to the
	// answerer a second time after its answer was applied (as recovery.js
	// sends an offer again whose answer came late); it returns whether the
	// answerer's answers carry each the origin line given (the first
	// answer's, the second's), or what went otherwise.
	const answerAgain = `(async () => {
		const sent = {offerer: [], answerer: []};
		const signaling = (side) => ({send: (type, data) => { sent[side].push({type, data}); return true; }});
		const offerer = new cl.Call(signaling("offerer"), false, [], null, true);
		const answerer = new cl.Call(signaling("answerer"), true, [], null, false);
		const first = (side, type) => sent[side].find((m) => m.type === type);
		try {
			for (let i = 0; !first("offerer", "offer"); i++) {
				if (i > 200) return "no offer";
				await new Promise((r) => setTimeout(r, 25));
			}
			const offer = first("offerer", "offer").data;
			await answerer.handle("offer", offer);
			await offerer.handle("answer", first("answerer", "answer").data);
			await answerer.handle("offer", offer);
			const origins = sent.answerer.filter((m) => m.type === "answer").map((m) => /^o=.*$/m.exec(m.data.sdp)[0]);
			return origins.length === 2 ? origins[0] === origins[1] : "answers: " + origins.length;
		} finally {
			offerer.close();
			answerer.close();
		}
	})`
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
		{"broken, no restart under way: restart at once", `rc.restartDelay({polite: false, ice: "connected", failed: false, stalledMs: rc.STALL_MS, sinceRestartMs: Infinity, attempt: 0})`, 0},
		{"broken, the polite side leaves the restart to the other", `rc.restartDelay({polite: true, ice: "connected", failed: false, stalledMs: rc.STALL_MS, sinceRestartMs: Infinity, attempt: 0}) === rc.POLITE_DELAY_MS`, true},
		{"the other side's restart 300 ms ago gets its time", `rc.restartDelay({polite: true, ice: "connected", failed: false, stalledMs: 3000, sinceRestartMs: 300, attempt: 1}) === rc.RETRY_MS[0] - 300 + rc.POLITE_DELAY_MS`, true},
		{"the own restart just now gets its time", `rc.restartDelay({polite: false, ice: "connected", failed: false, stalledMs: 3000, sinceRestartMs: 0, attempt: 1}) === rc.RETRY_MS[0]`, true},
		{"a restart under way longer than its time: the next at once", `rc.restartDelay({polite: false, ice: "connected", failed: false, stalledMs: 3000, sinceRestartMs: rc.RETRY_MS[0], attempt: 1})`, 0},
		{"the second restart gets longer", `rc.restartDelay({polite: false, ice: "connected", failed: false, stalledMs: 5000, sinceRestartMs: 0, attempt: 2}) === rc.RETRY_MS[1]`, true},
		{"later restarts get the longest time", `rc.restartDelay({polite: false, ice: "connected", failed: false, stalledMs: 9000, sinceRestartMs: 0, attempt: 9}) === rc.RETRY_MS[rc.RETRY_MS.length - 1]`, true},
		{"failed: the restart under way is over, the next at once", `rc.restartDelay({polite: false, ice: "failed", failed: true, stalledMs: 3000, sinceRestartMs: 100, attempt: 1})`, 0},
		{"failed before the restart under way: the restart gets its time", `rc.restartDelay({polite: false, ice: "failed", failed: false, stalledMs: 3000, sinceRestartMs: 100, attempt: 1}) === rc.RETRY_MS[0] - 100`, true},
		{"the own offer awaits its answer: sent again only after ANSWER_WAIT_MS", `rc.restartDelay({polite: false, ice: "connected", failed: false, stalledMs: 3000, sinceRestartMs: rc.RETRY_MS[0], attempt: 1, offerPending: true}) === rc.ANSWER_WAIT_MS - rc.RETRY_MS[0]`, true},
		{"ICE failed while the own offer awaits its answer: the answer still gets its time", `rc.restartDelay({polite: true, ice: "failed", failed: true, stalledMs: 3000, sinceRestartMs: 100, attempt: 1, offerPending: true}) === rc.ANSWER_WAIT_MS - 100`, true},
		{"the own offer unanswered for ANSWER_WAIT_MS: send it again now", `rc.restartDelay({polite: false, ice: "connected", failed: false, stalledMs: 9000, sinceRestartMs: rc.ANSWER_WAIT_MS, attempt: 1, offerPending: true})`, 0},
		{"disconnected with media until just now: a grace", `rc.restartDelay({polite: false, ice: "disconnected", failed: false, stalledMs: 100, sinceRestartMs: Infinity, attempt: 0}) === rc.DISCONNECTED_GRACE_MS`, true},
		{"disconnected and media stalled: no grace", `rc.restartDelay({polite: false, ice: "disconnected", failed: false, stalledMs: rc.STALL_MS, sinceRestartMs: Infinity, attempt: 0})`, 0},
		{"ICE username fragment of an SDP", `rc.iceUfrag("v=0\r\na=ice-ufrag:Ab+/1\r\na=ice-pwd:x\r\n")`, "Ab+/1"},
		{"an SDP without one", `rc.iceUfrag(undefined)`, ""},
		{"DTLS role: the answerer that said active is the client", `rc.dtlsRole("a=setup:active\r\n", "a=setup:actpass\r\n")`, "active"},
		{"DTLS role: the offerer left passive by the answer is the server", `rc.dtlsRole("a=setup:actpass\r\n", "a=setup:active\r\n")`, "passive"},
		{"DTLS role: none before the first negotiation", `rc.dtlsRole(undefined, undefined)`, ""},
		{"a restart's answer keeps the role (Firefox says active as the server)", `rc.withSetup("m=audio\r\na=setup:active\r\nm=video\r\na=setup:active\r\n", "passive")`, "m=audio\r\na=setup:passive\r\nm=video\r\na=setup:passive\r\n"},
		{"no role known: the answer unchanged", `rc.withSetup("a=setup:active\r\n", "")`, "a=setup:active\r\n"},
		{"video frames summed over outbound video streams", `rc.framesSent(new Map([["v", {type: "outbound-rtp", kind: "video", framesEncoded: 7}], ["a", {type: "outbound-rtp", kind: "audio"}], ["i", {type: "inbound-rtp", kind: "video", framesDecoded: 99}]]))`, 7},
		{"path back, the same encoder: it owes the other side a key frame", `await ` + breakAndRestore + `(130)`, false},
		{"path back with a new encoder (Firefox answering a restart): its first frame is a key frame", `await ` + breakAndRestore + `(3)`, true},
		{"packets summed over inbound streams", `rc.packetsIn(new Map([["a", {type: "inbound-rtp", packetsReceived: 10}], ["v", {type: "inbound-rtp", packetsReceived: 5}], ["o", {type: "outbound-rtp", packetsSent: 99}]]))`, 5 + 10},

		{"same certificate, new ICE credentials (a restart)", `cl.fingerprints(` + sdpA + `) === cl.fingerprints(` + sdpA + `.replace("x1", "y2"))`, true},
		{"another certificate (a new peer connection)", `cl.fingerprints(` + sdpA + `) === cl.fingerprints(` + sdpA + `.replaceAll("AA:BB", "CC:DD"))`, false},
		{"Firefox's restart offer: feedback of a codec not offered goes", `cl.withoutStrayCodecLines("m=video 9 UDP/TLS/RTP/SAVPF 120 124\r\na=rtcp-fb:96 nack\r\na=fmtp:124 apt=120\r\na=rtcp-fb:120 nack pli\r\na=rtcp-fb:* ccm fir\r\na=rtpmap:120 VP8/90000\r\na=rtpmap:97 H264/90000\r\n")`,
			"m=video 9 UDP/TLS/RTP/SAVPF 120 124\r\na=fmtp:124 apt=120\r\na=rtcp-fb:120 nack pli\r\na=rtcp-fb:* ccm fir\r\na=rtpmap:120 VP8/90000\r\n"},
		{"each media section by its own m= line", `cl.withoutStrayCodecLines("m=audio 9 UDP/TLS/RTP/SAVPF 111\na=rtpmap:111 opus/48000/2\na=rtcp-fb:120 nack\nm=video 9 UDP/TLS/RTP/SAVPF 120\na=rtcp-fb:120 nack\na=rtcp-fb:111 nack\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\na=sctp-port:5000\n")`,
			"m=audio 9 UDP/TLS/RTP/SAVPF 111\na=rtpmap:111 opus/48000/2\nm=video 9 UDP/TLS/RTP/SAVPF 120\na=rtcp-fb:120 nack\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\na=sctp-port:5000\n"},
		{"a description without stray lines stays as it is", `cl.withoutStrayCodecLines(` + sdpA + `) === ` + sdpA, true},
		{"an offer sent again, candidates added: the same offer", `cl.sameOffer("v=0\r\no=- 42 3 IN IP4 0.0.0.0\r\na=candidate:1 1 udp 1 192.0.2.1 9 typ host\r\n", "v=0\r\no=- 42 3 IN IP4 0.0.0.0\r\n")`, true},
		{"a new offer of the same peer connection (version raised): not the same", `cl.sameOffer("v=0\r\no=- 42 4 IN IP4 0.0.0.0\r\n", "v=0\r\no=- 42 3 IN IP4 0.0.0.0\r\n")`, false},
		{"no remote description yet: not the same", `cl.sameOffer("v=0\r\no=- 42 3 IN IP4 0.0.0.0\r\n", undefined)`, false},
		{"an offer sent again gets the answer given, not a new negotiation", `await ` + answerAgain + `()`, true},
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

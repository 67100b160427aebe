package e2e

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sprechzimmer/sprechzimmer/internal/lossyproxy"
	"github.com/sprechzimmer/sprechzimmer/internal/testbrowser"
	"github.com/sprechzimmer/sprechzimmer/internal/turntest"
	"github.com/sprechzimmer/sprechzimmer/test/bench/sample"
)

// recoveryBound is how soon after the network path changes or comes back
// video must flow again (issue 12: "within 5 s without a page reload").
// BenchmarkNetworkChange (make bench-recovery) measures it: p50/p95 in
// docs/benchmarks.md.
const recoveryBound = 5 * time.Second

// recoveryBoundBusy is what TestNetworkChange allows, on a machine as busy
// as CI's (the browser tests beside the real node's at a load of 20-30 on
// two cores), where the same recovery took up to 7.8 s: twice the promise.
// A page that only restarts ICE once the browser gives up (main before
// recovery.js) took 12-14 s after an address change even at a load of
// 15-30, and did not recover from a dropped path within 45 s.
const recoveryBoundBusy = 2 * recoveryBound

// watchPath makes the page record, every 100 ms, its wall-clock time
// (Date.now(), the clock the test reads too), the video frames its call has
// decoded, its ICE username fragment (new on every ICE restart), and, for
// the timeline of a slow recovery (pathTimeline), the video packets it
// received, the key frames it decoded and asked for (PLI, FIR), the video
// frames, key frames and packets it sent and its ICE state, in
// window.pathWatch.samples, and every state it shows in
// window.pathWatch.states. window.pathWatch itself is the mark that the
// document was not reloaded.
const watchPath = `(() => {
	if (window.pathWatch) return true;
	const w = window.pathWatch = {samples: [], states: [[Date.now(), document.body.dataset.state]]};
	new MutationObserver(() => {
		const s = document.body.dataset.state;
		if (w.states[w.states.length - 1][1] !== s) w.states.push([Date.now(), s]);
	}).observe(document.body, {attributes: true, attributeFilter: ["data-state"]});
	const sample = async () => {
		const pc = window.sprechzimmer.pc;
		let frames = 0, ufrag = "", packets = 0, keys = 0, asked = 0, sent = 0, sentKeys = 0, out = 0;
		try {
			ufrag = ((pc && pc.localDescription && pc.localDescription.sdp) || "").match(/a=ice-ufrag:(\S+)/)?.[1] || "";
			if (pc) (await pc.getStats()).forEach(r => {
				if (r.type === "outbound-rtp" && r.kind === "video") {
					sent += r.framesEncoded || 0;
					sentKeys += r.keyFramesEncoded || 0;
					out += r.packetsSent || 0;
				}
				if (r.type !== "inbound-rtp" || r.kind !== "video") return;
				frames += r.framesDecoded || 0;
				packets += r.packetsReceived || 0;
				keys += r.keyFramesDecoded || 0;
				asked += (r.pliCount || 0) + (r.firCount || 0);
			});
		} catch (e) { /* replaced meanwhile */ }
		w.samples.push([Date.now(), frames, ufrag, packets, keys, asked, (pc && pc.iceConnectionState) || "", sent, sentKeys, out]);
		if (w.samples.length > 3000) w.samples.shift();
		setTimeout(sample, 100);
	};
	sample();
	return true;
})()`

// ufragNow is the page's current ICE username fragment.
const ufragNow = `((window.sprechzimmer.pc && window.sprechzimmer.pc.localDescription && window.sprechzimmer.pc.localDescription.sdp) || "").match(/a=ice-ufrag:(\S+)/)?.[1] || ""`

// videoBackAt is a function of (since ms, ufrag): the time of the page's
// first sample after since that decoded a new video frame on a restarted
// ICE session (another username fragment than ufrag), or 0.
const videoBackAt = `((since, ufrag) => {
	const s = window.pathWatch.samples;
	for (let i = 1; i < s.length; i++) {
		if (s[i][0] >= since && s[i][2] && s[i][2] !== ufrag && s[i][1] > s[i - 1][1]) return s[i][0];
	}
	return 0;
})`

// neverWeak are quality.js thresholds that no line reaches.
const neverWeak = `({
	weak: {lossPct: Infinity, rttMs: Infinity, fps: 0, droppedPct: Infinity},
	veryWeak: {lossPct: Infinity, rttMs: Infinity, bitrateKbps: 0},
	minPackets: 10,
})`

// relayedCall is a call in which both pages reach coturn through their own
// lossy proxy only (relay-only ICE): the proxy is the page's network path.
type relayedCall struct {
	therapist, client *page
	proxies           map[string]*lossyproxy.Proxy
}

// startRelayedCall starts a room with coturn, both pages behind their
// proxies, and waits until video flows both ways over relays.
func startRelayedCall(t testing.TB, therapistIn, clientIn engine) *relayedCall {
	t.Helper()
	ice := turntest.CoturnICE(t, "e2e")
	coturn, err := net.ResolveUDPAddr("udp4", strings.TrimSuffix(strings.TrimPrefix(ice[0].URLs[0], "turn:"), "?transport=udp"))
	if err != nil {
		t.Fatal(err)
	}
	r := startRoom(t, roomOptions{iceServers: ice})
	c := &relayedCall{proxies: map[string]*lossyproxy.Proxy{}}
	for _, name := range []string{"therapist", "client"} {
		proxy, err := lossyproxy.Start(t.Context(), coturn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(proxy.Close)
		c.proxies[name] = proxy
	}
	c.therapist = openPageIn(t, therapistIn, "therapist", r.Link(r.Therapist))
	c.client = openPageIn(t, clientIn, "client", r.Link(r.Client))
	for _, p := range c.pages() {
		throughProxy(p, c.proxies[p.Name])
		// An outage is a very weak line to quality.js, which would lower
		// the video or switch to audio only in time (TestQualityOnAThrottledPath
		// tests that); here only the path counts.
		if _, err := testbrowser.Eval[bool](p, "(window.sprechzimmer.tuneQuality("+neverWeak+"), true)"); err != nil {
			t.Fatal(err)
		}
	}
	c.client.EnterAsClient("")
	c.therapist.EnterByKeyboard()
	for _, p := range c.pages() {
		p.WaitState("connected")
		p.AssertVideoFlows()
		p.AssertRelayed() // through the proxy
		if _, err := testbrowser.Eval[bool](p, watchPath); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func (c *relayedCall) pages() []*page { return []*page{c.therapist, c.client} }

// ufrags returns each page's ICE username fragment, by page name.
func (c *relayedCall) ufrags(t testing.TB) map[string]string {
	t.Helper()
	u := map[string]string{}
	for _, p := range c.pages() {
		s, err := testbrowser.Eval[string](p, ufragNow)
		if err != nil || s == "" {
			t.Fatalf("%s: reading the ICE username fragment: %q, %v", p.Name, s, err)
		}
		u[p.Name] = s
	}
	return u
}

// recovered waits until each page decodes video again over a restarted ICE
// session (another username fragment than in before) and returns, per page
// name, the time from at (wall clock) to that page's first such frame.
func (c *relayedCall) recovered(t testing.TB, at time.Time, before map[string]string) map[string]time.Duration {
	t.Helper()
	since := at.UnixMilli()
	took := map[string]time.Duration{}
	for _, p := range c.pages() {
		cond := fmt.Sprintf("%s(%d, %q) > 0", videoBackAt, since, before[p.Name])
		p.WaitFor("video over a restarted ICE session", cond)
		back, err := testbrowser.Eval[float64](p, fmt.Sprintf("%s(%d, %q)", videoBackAt, since, before[p.Name]))
		if err != nil {
			t.Fatal(err)
		}
		took[p.Name] = msDuration(back - float64(since))
	}
	return took
}

// pathTimeline describes what a page's video did from at (wall clock) on,
// one line per change of its readings: the time since at, then the video
// frames it decoded, packets received, key frames decoded and asked for,
// frames, key frames and packets it sent, the ICE state and username
// fragment.
// A slow recovery logs it: where the time went (no packets, no key frame,
// no new ICE session, an encoder that sent nothing) is in it.
func pathTimeline(t testing.TB, p *page, at time.Time) string {
	t.Helper()
	lines, err := testbrowser.Eval[[]any](p, fmt.Sprintf(`(() => {
		const since = %d, out = [%q + " since the change: decoded packets keys asked | encoded keys packets | ICE ufrag"];
		let last = "";
		for (const [ms, frames, ufrag, packets, keys, asked, ice, sent, sentKeys, sentPackets] of window.pathWatch.samples) {
			if (ms < since) continue;
			const now = [frames, packets, keys, asked, "|", sent, sentKeys, sentPackets, "|", ice, ufrag].join(" ");
			if (now !== last) out.push("+" + (ms - since) + "ms " + now);
			last = now;
		}
		return out;
	})()`, at.UnixMilli(), p.Name))
	if err != nil {
		return err.Error()
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i], _ = l.(string)
	}
	return strings.Join(out, "\n")
}

// statesSince returns the states a page showed from at (wall clock) on,
// the one it showed at that moment first.
func statesSince(t testing.TB, p *page, at time.Time) []string {
	t.Helper()
	states, err := testbrowser.Eval[[]any](p, fmt.Sprintf(`(() => {
		const s = window.pathWatch.states, since = %d;
		const from = Math.max(0, s.findLastIndex(x => x[0] <= since));
		return s.slice(from).map(x => x[1]);
	})()`, at.UnixMilli()))
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(states))
	for i, s := range states {
		out[i], _ = s.(string)
	}
	return out
}

// pathChange is one way the client's network path changes in the middle
// of a call; do changes it and returns when the new (or restored) path
// was there and each page's ICE username fragment before the change.
type pathChange struct {
	name string
	do   func(t testing.TB, c *relayedCall, run int) (time.Time, map[string]string)
}

var pathChanges = []pathChange{
	{"the client's address changes", func(t testing.TB, c *relayedCall, run int) (time.Time, map[string]string) {
		// To coturn the client now comes from another address (127.0.0.2
		// and 127.0.0.3 in turn); its allocation at the old one is dead.
		before := c.ufrags(t)
		at := time.Now()
		if err := c.proxies["client"].Move(net.IPv4(127, 0, 0, byte(2+run%2))); err != nil {
			t.Fatal(err)
		}
		return at, before
	}},
	{"the client's path drops and comes back", func(t testing.TB, c *relayedCall, _ int) (time.Time, map[string]string) {
		before := c.ufrags(t)
		dropped := lossyproxy.Impairment{Loss: 1}
		c.proxies["client"].Set(dropped, dropped)
		for _, p := range c.pages() {
			p.WaitState("reconnecting")
		}
		// Down long enough for a restart to be tried in vain.
		c.client.WaitFor("a restart while the path is down", fmt.Sprintf("(%s) !== %q", ufragNow, before["client"]))
		at := time.Now()
		c.proxies["client"].Set(lossyproxy.Impairment{}, lossyproxy.Impairment{})
		return at, before
	}},
}

// TestNetworkChange moves the client's network path in the middle of a
// call, therapist and client in the same engine and a Chromium therapist
// with a Firefox client: both browsers reach the TURN server only through
// their own UDP proxy, and the test changes the client's proxy. Both
// pages show "reconnecting", restart ICE and decode video again within
// recoveryBoundBusy of the change (or of the path coming back), in the
// same document (no reload).
//
// The Chromium therapist with a Firefox client did not come back before
// recovery.js kept the DTLS roles; a Firefox therapist with a Chromium
// client did not come back before call.js dropped the stray codec lines of
// Firefox's restart offer, which Chromium refused whole ("Failed to parse
// codecs correctly").
func TestNetworkChange(t *testing.T) {
	pairs := []struct{ therapist, client engine }{{chromium, chromium}, {firefox, firefox}, {chromium, firefox}, {firefox, chromium}}
	for _, pair := range pairs {
		t.Run(fmt.Sprintf("therapist-%s,client-%s", pair.therapist, pair.client), func(t *testing.T) {
			testNetworkChange(t, pair.therapist, pair.client)
		})
	}
}

func testNetworkChange(t *testing.T, therapist, client engine) {
	c := startRelayedCall(t, therapist, client)
	for _, p := range c.pages() {
		if _, err := testbrowser.Eval[bool](p, `(window.sameDocument = true)`); err != nil {
			t.Fatal(err)
		}
	}
	for i, change := range pathChanges {
		t.Run(change.name, func(t *testing.T) {
			reportTo(t, c.pages()...)
			at, before := change.do(t, c, i)
			took := c.recovered(t, at, before)
			for _, p := range c.pages() {
				t.Logf("%s: video back %v after the path changed", p.Name, took[p.Name])
				if took[p.Name] > recoveryBoundBusy {
					t.Errorf("%s: video back only %v after the path changed, want within %v (%v on a busy machine); the video of both since:\n%s\n%s",
						p.Name, took[p.Name], recoveryBound, recoveryBoundBusy, pathTimeline(t, c.client, at), pathTimeline(t, c.therapist, at))
				}
				p.WaitState("connected")
				states := strings.Join(statesSince(t, p, at), " ")
				if !strings.Contains(states, "reconnecting") || !strings.HasSuffix(states, "connected") {
					t.Errorf("%s: showed %q since the change, want reconnecting and then connected", p.Name, states)
				}
				if same, _ := testbrowser.Eval[bool](p, "window.sameDocument === true"); !same {
					t.Errorf("%s: the page was reloaded", p.Name)
				}
				p.AssertVideoFlows()
			}
			assertShows(c.therapist, "status", textConnected)
		})
	}
}

// keyWatch is the key frames the page's call decoded and asked for (PLI
// and FIR) at watchPath's latest reading.
const keyWatch = `(([, , , , keys, asked]) => ({keys, asked}))(window.pathWatch.samples.at(-1))`

// TestKeyFrameOnRestoredPath sends a key frame the way a page does when its
// path comes back (recovery.js sendKeyFrame) and checks that the other page
// decodes a new key frame it did not ask for, and that the video goes on.
// Without it the other side's decoder waited for its browser's next key
// frame request, 1.1-3 s after the media was back (docs/benchmarks.md).
func TestKeyFrameOnRestoredPath(t *testing.T) { forEachEngine(t, testKeyFrameOnRestoredPath) }

func testKeyFrameOnRestoredPath(t *testing.T, e engine) {
	c := startRelayedCall(t, e, e)
	c.therapist.WaitFor("a first reading of the key frames", keyWatch+".keys > 0")
	before, err := testbrowser.Eval[map[string]float64](c.therapist, keyWatch)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := testbrowser.Eval[bool](c.client, `(async () => {
		await (await import("./recovery.js")).sendKeyFrame(window.sprechzimmer.pc);
		return true;
	})()`); err != nil {
		t.Fatal(err)
	}
	c.therapist.WaitFor("a new key frame", fmt.Sprintf("%s.keys > %v", keyWatch, before["keys"]))
	after, err := testbrowser.Eval[map[string]float64](c.therapist, keyWatch)
	if err != nil {
		t.Fatal(err)
	}
	if after["asked"] != before["asked"] {
		t.Errorf("the therapist's page asked for key frames meanwhile (%v, then %v): the key frame may be its answer", before["asked"], after["asked"])
	}
	active, err := testbrowser.Eval[bool](c.client, `window.sprechzimmer.pc.getSenders().filter(s => s.track && s.track.kind === "video").every(s => s.getParameters().encodings.every(e => e.active !== false))`)
	if err != nil || !active {
		t.Errorf("client: video encodings active again: %v, %v", active, err)
	}
	c.therapist.AssertVideoFlows()
}

// BenchmarkNetworkChange measures, in real browsers, how long after the
// client's network path changes (or comes back) each page decodes video
// again over a restarted ICE session (ms-client-p50/p95,
// ms-therapist-p50/p95): the scenarios of TestNetworkChange, repeated in
// one call per engine. Run it as `make bench-recovery` (20 runs each).
func BenchmarkNetworkChange(b *testing.B) {
	for _, e := range []engine{chromium, firefox} {
		for _, change := range pathChanges {
			b.Run(fmt.Sprintf("%s/%s", e, strings.ReplaceAll(change.name, " ", "-")), func(b *testing.B) {
				c := startRelayedCall(b, e, e)
				var atClient, atTherapist sample.Sample
				run := 0
				for b.Loop() {
					b.StopTimer()
					at, before := change.do(b, c, run)
					took := c.recovered(b, at, before)
					atClient = append(atClient, took["client"])
					atTherapist = append(atTherapist, took["therapist"])
					for _, p := range c.pages() {
						p.WaitState("connected")
						p.AssertVideoFlows()
					}
					run++
					b.StartTimer()
				}
				reportPercentiles(b, atClient, atTherapist)
			})
		}
	}
}

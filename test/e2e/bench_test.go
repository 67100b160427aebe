package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/sprechzimmer/sprechzimmer/internal/testbrowser"
	"github.com/sprechzimmer/sprechzimmer/test/bench/sample"
)

// markClick makes the page note the time of the first click on the enter
// button (performance.now(), before the page's own handler runs).
const markClick = `(() => {
	document.getElementById("enter").addEventListener("click", () => { window.benchClickAt ??= performance.now(); }, { capture: true });
	return true;
})()`

// untilVideoSinceClick is a promise that resolves, once the page's call has
// decoded a video frame, to the milliseconds since the noted click (or
// since the promise started, without one); it checks every 10 ms.
const untilVideoSinceClick = `new Promise((resolve) => {
	const from = window.benchClickAt ?? performance.now();
	const check = async () => {
		const pc = window.sprechzimmer.pc;
		let n = 0;
		if (pc) (await pc.getStats()).forEach(r => { if (r.type === "inbound-rtp" && r.kind === "video") n += r.framesDecoded || 0; });
		if (n > 0) resolve(performance.now() - from); else setTimeout(check, 10);
	};
	check();
})`

// BenchmarkEnterToVideo measures, in real browsers on loopback, the time
// from the client's click on "enter" (the therapist waits in the room)
// until the client's page has decoded the therapist's first video frame
// (ms-client-p50/p95), and until the therapist's page has decoded the
// client's (ms-therapist-p50/p95): join, offer/answer, ICE, DTLS and the
// first frames, timed inside the pages. Each run is a fresh room and fresh
// tabs. Run it as `make bench-browser` (20 runs per pair).
func BenchmarkEnterToVideo(b *testing.B) {
	pairs := []struct{ therapist, client engine }{
		{chromium, chromium},
		{chromium, firefox},
	}
	for _, pair := range pairs {
		b.Run(fmt.Sprintf("client=%s,therapist=%s", pair.client, pair.therapist), func(b *testing.B) {
			var atClient, atTherapist sample.Sample
			for b.Loop() {
				b.StopTimer()
				client, therapist := enterToVideo(b, pair.therapist, pair.client)
				atClient = append(atClient, client)
				atTherapist = append(atTherapist, therapist)
				b.StartTimer()
			}
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
			b.ReportMetric(ms(atClient.Percentile(50)), "ms-client-p50")
			b.ReportMetric(ms(atClient.Percentile(95)), "ms-client-p95")
			b.ReportMetric(ms(atTherapist.Percentile(50)), "ms-therapist-p50")
			b.ReportMetric(ms(atTherapist.Percentile(95)), "ms-therapist-p95")
		})
	}
}

// enterToVideo is one run of BenchmarkEnterToVideo: a fresh room, the
// therapist waiting, the client's click, and the time until each page has
// decoded a frame of the other's video.
func enterToVideo(b *testing.B, therapistIn, clientIn engine) (atClient, atTherapist time.Duration) {
	r := startRoom(b, roomOptions{})
	therapist := openPageIn(b, therapistIn, "therapist", r.Link(r.Therapist))
	client := openPageIn(b, clientIn, "client", r.Link(r.Client))
	defer therapist.Close()
	defer client.Close()
	therapist.EnterByKeyboard()
	therapist.WaitState("waiting")
	client.WaitState("waiting-room")
	client.Click("terms")
	client.Click("processing")
	client.WaitFor("the enter button enabled", `!document.getElementById("enter").disabled`)
	if _, err := testbrowser.Eval[bool](client, markClick); err != nil {
		b.Fatal(err)
	}
	if _, err := testbrowser.Eval[bool](therapist, "(window.benchClickAt = undefined, true)"); err != nil {
		b.Fatal(err)
	}
	client.Click("enter")
	clientMS, err := testbrowser.Eval[float64](client, untilVideoSinceClick)
	if err != nil {
		b.Fatalf("client: %v (%s)", err, client.Describe())
	}
	clickAt, err := testbrowser.Eval[float64](client, "window.benchClickAt + performance.timeOrigin")
	if err != nil {
		b.Fatal(err)
	}
	// The therapist's page measures from the client's click, on the
	// wall clock both pages share (timeOrigin + now).
	therapistAt, err := testbrowser.Eval[float64](therapist, untilVideoSinceClick+".then((ms) => performance.now() + performance.timeOrigin)")
	if err != nil {
		b.Fatalf("therapist: %v (%s)", err, therapist.Describe())
	}
	return msDuration(clientMS), msDuration(therapistAt - clickAt)
}

// msDuration converts milliseconds to a Duration.
func msDuration(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }

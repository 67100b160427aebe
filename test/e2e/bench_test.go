package e2e

import (
	"testing"
	"time"

	"github.com/sprechzimmer/sprechzimmer/internal/testbrowser"
)

// untilVideo is a promise that resolves once the page's call has decoded a
// video frame, checking every 10 ms.
const untilVideo = `new Promise((resolve) => {
	const check = async () => {
		const pc = window.sprechzimmer.pc;
		let n = 0;
		if (pc && document.body.dataset.state === "connected") {
			(await pc.getStats()).forEach(r => { if (r.type === "inbound-rtp" && r.kind === "video") n += r.framesDecoded || 0; });
		}
		if (n > 0) resolve(true); else setTimeout(check, 10);
	};
	check();
})`

// BenchmarkEnterToVideo measures, in real Chromium on loopback, the time
// from the client pressing "Wieder betreten" (the therapist waits in the
// room) until both pages decode the other's video: join, offer/answer,
// ICE, DTLS and the first frames. It also reports the part until the
// client's page says "connected" (ms-connected/op).
func BenchmarkEnterToVideo(b *testing.B) {
	r := startRoom(b, roomOptions{})
	therapist := openPage(b, "therapist", r.Link(r.Therapist))
	client := openPage(b, "client", r.Link(r.Client))
	client.EnterAsClient("")
	therapist.EnterByKeyboard()
	client.WaitState("connected")
	var connected time.Duration
	for b.Loop() {
		b.StopTimer()
		client.Click("hangup")
		client.WaitState("ended")
		therapist.WaitState("waiting")
		b.StartTimer()
		start := time.Now()
		client.Click("rejoin")
		client.WaitState("connected")
		connected += time.Since(start)
		for _, p := range []*page{client, therapist} {
			if _, err := testbrowser.Eval[bool](p, untilVideo); err != nil {
				b.Fatalf("%s: %v (%s)", p.Name, err, p.Describe())
			}
		}
	}
	b.ReportMetric(float64(connected.Milliseconds())/float64(b.N), "ms-connected/op")
}

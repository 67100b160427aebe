package e2e

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sprechzimmer/sprechzimmer/internal/testbrowser"
	"github.com/sprechzimmer/sprechzimmer/test/bench/sample"
)

// markClick makes the page note the time of the first click on the enter
// button (before the page's own handler runs) in window.benchClickAt.
const markClick = `(() => {
	document.getElementById("enter").addEventListener("click", () => {
		window.benchClickAt ??= performance.timeOrigin + performance.now();
	}, { capture: true });
	return true;
})()`

// watchVideo makes the page note, in window.benchVideoAt, when its call
// has decoded the first video frame; it checks every 10 ms, and goes on
// when a replaced peer connection's getStats fails.
const watchVideo = `(() => {
	const check = async () => {
		let n = 0;
		try {
			const pc = window.sprechzimmer.pc;
			if (pc) (await pc.getStats()).forEach(r => { if (r.type === "inbound-rtp" && r.kind === "video") n += r.framesDecoded || 0; });
		} catch (e) { n = 0; }
		if (n > 0) window.benchVideoAt = performance.timeOrigin + performance.now(); else setTimeout(check, 10);
	};
	check();
	return true;
})()`

// BenchmarkEnterToVideo measures, in real browsers on loopback, the time
// from the client's click on "enter" (the therapist waits in the room)
// until the client's page has decoded the therapist's first video frame
// (ms-client-p50/p95), and until the therapist's page has decoded the
// client's (ms-therapist-p50/p95): join, offer/answer, ICE, DTLS and the
// first frames, timed inside the pages. Each run is a fresh room and fresh
// tabs. load-avg is the mean one-minute load average at the runs' starts.
// Run it as `make bench-browser` (20 runs per pair).
func BenchmarkEnterToVideo(b *testing.B) {
	pairs := []struct{ therapist, client engine }{
		{chromium, chromium},
		{chromium, firefox},
		{firefox, firefox},
	}
	for _, pair := range pairs {
		b.Run(fmt.Sprintf("client=%s,therapist=%s", pair.client, pair.therapist), func(b *testing.B) {
			var atClient, atTherapist sample.Sample
			var load []float64
			for b.Loop() {
				b.StopTimer()
				if l, ok := loadAverage(); ok {
					load = append(load, l)
				}
				client, therapist := enterToVideo(b, pair.therapist, pair.client)
				atClient = append(atClient, client)
				atTherapist = append(atTherapist, therapist)
				b.StartTimer()
			}
			reportPercentiles(b, atClient, atTherapist)
			if len(load) > 0 {
				sum := 0.0
				for _, l := range load {
					sum += l
				}
				b.ReportMetric(sum/float64(len(load)), "load-avg")
			}
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
	for _, p := range []*page{client, therapist} {
		if _, err := testbrowser.Eval[bool](p, watchVideo); err != nil {
			b.Fatal(err)
		}
	}
	client.Click("enter")
	// Times on the wall clock the pages share (timeOrigin + now).
	clickAt, err := testbrowser.Eval[float64](client, "window.benchClickAt")
	if err != nil {
		b.Fatal(err)
	}
	since := func(p *page) time.Duration {
		p.WaitFor("the first decoded frame", "window.benchVideoAt > 0")
		at, err := testbrowser.Eval[float64](p, "window.benchVideoAt")
		if err != nil {
			b.Fatal(err)
		}
		return msDuration(at - clickAt)
	}
	return since(client), since(therapist)
}

// loadAverage is the machine's one-minute load average (/proc/loadavg), to
// publish beside the figures: on a shared machine they depend on it.
func loadAverage() (float64, bool) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, false
	}
	l, err := strconv.ParseFloat(f[0], 64)
	return l, err == nil
}

// msDuration converts milliseconds to a Duration.
func msDuration(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }

// reportPercentiles reports the p50 and p95 of the client's and the
// therapist's times in milliseconds.
func reportPercentiles(b *testing.B, atClient, atTherapist sample.Sample) {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(atClient.Percentile(50)), "ms-client-p50")
	b.ReportMetric(ms(atClient.Percentile(95)), "ms-client-p95")
	b.ReportMetric(ms(atTherapist.Percentile(50)), "ms-therapist-p50")
	b.ReportMetric(ms(atTherapist.Percentile(95)), "ms-therapist-p95")
}

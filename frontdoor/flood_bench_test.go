package frontdoor_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/sprechzimmer/sprechzimmer/internal/flood"
	"github.com/sprechzimmer/sprechzimmer/internal/jointoken"
	"github.com/sprechzimmer/sprechzimmer/internal/testlog"
	"github.com/sprechzimmer/sprechzimmer/internal/testpeer"
	"github.com/sprechzimmer/sprechzimmer/signaling/config"
	"github.com/sprechzimmer/sprechzimmer/signaling/room"
	"github.com/sprechzimmer/sprechzimmer/signaling/server"
)

// floodSockets is the size of BenchmarkFlood's flood.
const floodSockets = 10000

// BenchmarkFlood floods one room through the front door (default limits)
// with WebSockets that never say hello, from one loopback source and from
// 1,250 (8 each, the per-source WebSocket limit), while a real pair (pion
// peers, from 127.0.0.1) joins the room half way through. The room is a
// real signaling server in this process, so the memory figure is the
// process's: front door, room server and the flood's client sockets.
//
//	go test -run '^$' -bench Flood -benchtime 1x ./frontdoor
func BenchmarkFlood(b *testing.B) {
	for _, bm := range []struct {
		name    string
		sources int
	}{{"one-source", 1}, {"1250-sources", 1250}} {
		b.Run(bm.name, func(b *testing.B) {
			var sources []netip.Addr
			for i := range bm.sources {
				sources = append(sources, netip.AddrFrom4([4]byte{127, 1, byte(i / 250), byte(1 + i%250)}))
			}
			for b.Loop() {
				floodOnce(b, sources)
			}
		})
	}
}

func floodOnce(b *testing.B, sources []netip.Addr) {
	d := startDoor(b)
	id, svc := d.createRoom("anna", roomSpec{})
	tokens := startRoomServer(b, d, svc)
	d.awaitRouted(id)
	baseHeap := heapAndStacks()
	var peak uint64
	stopSampling := sampleHeap(&peak)

	half := make(chan struct{})
	var once sync.Once
	pairDone := make(chan error, 1)
	var pairAttempts int
	var pairTook time.Duration
	wsURL := "ws" + strings.TrimPrefix(d.url, "http") + "/r/" + id + "/ws"
	go func() {
		<-half
		start := time.Now()
		var err error
		pairAttempts, err = pairThrough(wsURL, d.url, tokens)
		pairTook = time.Since(start)
		pairDone <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	conns, res := flood.RunFrom(ctx, sources, strings.TrimPrefix(d.url, "http://"), "/r/"+id+"/ws", floodSockets, 64, func(done int) {
		if done >= floodSockets/2 {
			once.Do(func() { close(half) })
		}
	})
	took := time.Since(start)
	once.Do(func() { close(half) })
	pairErr := <-pairDone
	stopSampling()
	after := heapAndStacks()
	flood.CloseAll(conns)
	if pairErr != nil {
		b.Errorf("the pair did not get in: %v", pairErr)
	}
	b.ReportMetric(float64(floodSockets)/took.Seconds(), "sockets/s")
	b.ReportMetric(float64(res.Opened), "upgraded")
	b.ReportMetric(float64(res.Refused), "refused")
	b.ReportMetric(float64(int64(peak)-int64(baseHeap))/(1<<20), "peak-MiB-growth")
	b.ReportMetric(float64(int64(after)-int64(baseHeap))/(1<<20), "after-MiB-growth")
	b.ReportMetric(float64(pairAttempts), "pair-dials")
	b.ReportMetric(float64(pairTook.Milliseconds()), "pair-ms")
	b.Logf("flood %+v in %v; pair: %d dials, %v, err %v; limited: source-websockets %v, room %v", res, took, pairAttempts, pairTook, pairErr,
		metric(b, d.registry, "sprechzimmer_frontdoor_limited_total", map[string]string{"reason": "source-websockets"}),
		metric(b, d.registry, "sprechzimmer_frontdoor_limited_total", map[string]string{"reason": "room"}))
}

// startRoomServer serves svc's room with a real signaling server (default
// caps) and returns its two tokens.
func startRoomServer(b *testing.B, d *door, svc *corev1.Service) [2]string {
	b.Helper()
	public, _ := url.Parse(d.url + "/")
	tokens := [2]string{"flood-therapist-token-0123456789abcdefghijklmn", "flood-client-token-0123456789abcdefghijklmnopq"}
	cfg := &config.Config{
		TherapistToken: jointoken.Of(tokens[0]), ClientToken: jointoken.Of(tokens[1]),
		ExpiresAt: time.Now().Add(time.Hour), Language: "de", TermsVersion: config.DefaultTermsVersion, PublicURL: public,
		Admission: config.AdmissionAutomatic,
	}
	s, err := server.New(server.Options{Config: cfg, Room: room.New(room.FromConfig(cfg)), Logger: slog.New(slog.NewJSONHandler(&testlog.Buffer{}, nil))})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	b.Cleanup(func() { srv.Close(); s.Close() })
	d.serveRoom(svc, &backend{addr: srv.Listener.Addr().String()})
	return tokens
}

// pairThrough brings therapist and client in through the front door with
// pion peers, dialing again (as the page does) when a socket is refused or
// dropped before joined, and waits until both are connected.
func pairThrough(wsURL, origin string, tokens [2]string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	attempts := 0
	var peers []*testpeer.Peer
	defer func() {
		for _, p := range peers {
			_ = p.Close()
		}
	}()
	for _, token := range tokens {
		for {
			attempts++
			p, err := testpeer.Dial(ctx, wsURL, token, testpeer.WithLoopbackOnly(), testpeer.WithOrigin(origin))
			if err == nil {
				peers = append(peers, p)
				break
			}
			select {
			case <-ctx.Done():
				return attempts, fmt.Errorf("after %d dials: %w", attempts, err)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	for _, p := range peers {
		select {
		case <-p.Connected():
		case <-ctx.Done():
			return attempts, fmt.Errorf("%s not connected: %w", p.Role(), ctx.Err())
		}
	}
	return attempts, nil
}

// heapAndStacks is the process's heap and stacks in use after a GC.
func heapAndStacks() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

// sampleHeap records the largest heap and stacks in use into peak every
// 50 ms until the returned function is called.
func sampleHeap(peak *uint64) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			*peak = max(*peak, m.HeapInuse+m.StackInuse)
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); <-finished }
}

package turn_test

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sprechzimmer/sprechzimmer/internal/turncred"
	"github.com/sprechzimmer/sprechzimmer/internal/turntest"
	"github.com/sprechzimmer/sprechzimmer/turn"
)

// TestMetricsPerListener relays one exchange through a client on each
// listener (UDP, TCP, TLS) and checks what the dashboard shows: each
// listener's allocations and relayed bytes, counted apart, under a label
// with only the three listener names.
func TestMetricsPerListener(t *testing.T) {
	ca, certFile, keyFile := testCert(t)
	reg := prometheus.NewRegistry()
	srv, err := turn.New(turn.Config{
		Realm: testRealm, Secret: []byte(testSecret),
		UDPAddress: "127.0.0.1:0", TCPAddress: "127.0.0.1:0",
		TLSAddress: "127.0.0.1:0", TLSCertFile: certFile, TLSKeyFile: keyFile,
		RelayIP: net.IPv4(127, 0, 0, 1), RelayBindIP: "127.0.0.1",
		Peers: turn.NewPeerPolicy([]netip.Prefix{loopback}, nil),
		// The peers are sockets on loopback, the server's own host.
		UnsafeHostPeers: true,
		Registerer:      reg,
	})
	if err != nil {
		t.Fatalf("turn.New() = %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })

	ways := map[string]net.Addr{
		turn.ListenerUDP: srv.UDPAddr(),
		turn.ListenerTCP: srv.TCPAddr(),
		turn.ListenerTLS: turntest.TLSAddr{Addr: srv.TLSAddr().(*net.TCPAddr), Config: tlsClient(ca)},
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var allocs []*turntest.Allocation
	for listener, addr := range ways {
		cred := turncred.Mint([]byte(testSecret), "room-"+listener, time.Now().Add(time.Hour))
		alloc, err := turntest.Allocate(ctx, addr, cred.Username, cred.Password)
		if err != nil {
			t.Fatalf("Allocate() over %s = %v", listener, err)
		}
		allocs = append(allocs, alloc)
		assertRelays(t, alloc)
	}

	got := gatherByLabels(t, reg)
	for listener := range ways {
		for _, key := range []string{"sprechzimmer_turn_allocations_total", "sprechzimmer_turn_allocations_active"} {
			if key += " listener=" + listener; got[key] != 1 {
				t.Errorf("%s = %v, want 1", key, got[key])
			}
		}
	}

	// The calls end; Shutdown returns once their allocations are deleted.
	// Each client's requests are handled in order, so its deletion also
	// comes after the relayed bytes were counted.
	for _, a := range allocs {
		a.Close()
	}
	if err := srv.Shutdown(ctx); err != nil || ctx.Err() != nil {
		t.Fatalf("Shutdown() = %v (%v) with the allocations deleted", err, ctx.Err())
	}
	got = gatherByLabels(t, reg)
	for listener := range ways {
		for key, want := range map[string]float64{
			"sprechzimmer_turn_allocations_total listener=" + listener:                       1,
			"sprechzimmer_turn_allocations_active listener=" + listener:                      0,
			"sprechzimmer_turn_relayed_bytes_total direction=to_peer listener=" + listener:   float64(len("hello peer")),
			"sprechzimmer_turn_relayed_bytes_total direction=from_peer listener=" + listener: float64(len("hello client")),
		} {
			if got[key] != want {
				t.Errorf("after the calls ended %s = %v, want %v", key, got[key], want)
			}
		}
	}
}

// gatherByLabels gathers reg into "name label=value ..." keys and checks
// that every listener label has one of the three listener names.
func gatherByLabels(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			key := f.GetName()
			for _, l := range m.GetLabel() {
				if l.GetName() == "listener" {
					switch l.GetValue() {
					case turn.ListenerUDP, turn.ListenerTCP, turn.ListenerTLS:
					default:
						t.Errorf("%s has listener=%q, want one of udp, tcp, tls", f.GetName(), l.GetValue())
					}
				}
				key += " " + l.GetName() + "=" + l.GetValue()
			}
			got[key] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return got
}

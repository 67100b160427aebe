package lossyproxy

import (
	"net"
	"testing"
	"time"
)

// echoServer answers every datagram with the same bytes.
func echoServer(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			_, _ = c.WriteToUDP(buf[:n], from)
		}
	}()
	return c
}

// roundTrips sends n datagrams through the proxy to the echo server, each
// after the previous answer or a timeout, and counts the answers and the
// slowest round trip.
func roundTrips(t *testing.T, p *Proxy, n int) (int, time.Duration) {
	t.Helper()
	c, err := net.DialUDP("udp4", nil, p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	got, slowest := 0, time.Duration(0)
	buf := make([]byte, 1500)
	for i := range n {
		start := time.Now()
		if _, err := c.Write([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		for {
			m, err := c.Read(buf)
			if err != nil {
				break // lost
			}
			if m == 1 && buf[0] == byte(i) {
				got++
				slowest = max(slowest, time.Since(start))
				break
			}
		}
	}
	return got, slowest
}

func TestProxy(t *testing.T) {
	tests := []struct {
		name         string
		up, down     Impairment
		n            int
		minGot       int
		maxGot       int
		minRoundTrip time.Duration
	}{
		{name: "clear line", n: 20, minGot: 20, maxGot: 20},
		{name: "everything lost upstream", up: Impairment{Loss: 1}, n: 3, minGot: 0, maxGot: 0},
		{name: "everything lost downstream", down: Impairment{Loss: 1}, n: 3, minGot: 0, maxGot: 0},
		{name: "half lost", up: Impairment{Loss: 0.5}, n: 20, minGot: 3, maxGot: 17},
		{name: "delayed both ways", up: Impairment{Delay: 100 * time.Millisecond}, down: Impairment{Delay: 100 * time.Millisecond}, n: 3, minGot: 3, maxGot: 3, minRoundTrip: 200 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := echoServer(t)
			p, err := Start(t.Context(), target.LocalAddr().(*net.UDPAddr))
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			p.Set(tt.up, tt.down)
			got, slowest := roundTrips(t, p, tt.n)
			if got < tt.minGot || got > tt.maxGot {
				t.Errorf("%d of %d datagrams came back, want %d..%d", got, tt.n, tt.minGot, tt.maxGot)
			}
			if got > 0 && slowest < tt.minRoundTrip {
				t.Errorf("slowest round trip %v, want at least %v", slowest, tt.minRoundTrip)
			}
		})
	}
}

// TestMove checks that after Move the target sees the same client from the
// new address, answers reach the client, and what the target sends to
// the old address is lost.
func TestMove(t *testing.T) {
	target, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = target.Close() })
	p, err := Start(t.Context(), target.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	client, err := net.DialUDP("udp4", nil, p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = client.Close() }()

	// exchange sends one datagram from the client and returns where the
	// target saw it come from, after the target's answer reached the client.
	buf := make([]byte, 1500)
	exchange := func() *net.UDPAddr {
		t.Helper()
		if _, err := client.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		_ = target.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, from, err := target.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("target: %v", err)
		}
		if _, err := target.WriteToUDP([]byte("pong"), from); err != nil {
			t.Fatal(err)
		}
		_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := client.Read(buf); err != nil || string(buf[:n]) != "pong" {
			t.Fatalf("client: %q, %v; want the target's answer", buf[:n], err)
		}
		return from
	}

	before := exchange()
	if err := p.Move(net.IPv4(127, 0, 0, 2)); err != nil {
		t.Fatal(err)
	}
	after := exchange()
	if !after.IP.Equal(net.IPv4(127, 0, 0, 2)) || after.String() == before.String() {
		t.Errorf("after the move the target saw the client from %v (before %v), want 127.0.0.2", after, before)
	}
	if _, err := target.WriteToUDP([]byte("late"), before); err != nil {
		t.Fatal(err)
	}
	_ = client.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := client.Read(buf); err == nil {
		t.Errorf("the client got %q sent to its old address", buf[:n])
	}
}

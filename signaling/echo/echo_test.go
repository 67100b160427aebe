package echo

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/rtp"
	"github.com/pion/stun/v4"
	"github.com/pion/webrtc/v4"

	"github.com/sprechzimmer/sprechzimmer/internal/testpeer"
	"github.com/sprechzimmer/sprechzimmer/internal/testroom"
	"github.com/sprechzimmer/sprechzimmer/internal/turntest"
	"github.com/sprechzimmer/sprechzimmer/signaling/protocol"
	"github.com/sprechzimmer/sprechzimmer/signaling/server"
)

// browser is the test's stand-in for a browser: a pion offerer on loopback.
type browser struct {
	pc         *webrtc.PeerConnection
	candidates chan webrtc.ICECandidateInit
	states     chan webrtc.PeerConnectionState
	received   chan *rtp.Packet
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	media := &webrtc.MediaEngine{}
	if err := media.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	var settings webrtc.SettingEngine
	settings.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	settings.SetIncludeLoopbackCandidate(true)
	settings.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	settings.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	api := webrtc.NewAPI(webrtc.WithMediaEngine(media), webrtc.WithSettingEngine(settings))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	b := &browser{
		pc:         pc,
		candidates: make(chan webrtc.ICECandidateInit, 16),
		states:     make(chan webrtc.PeerConnectionState, 16),
		received:   make(chan *rtp.Packet, 256),
	}
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			b.candidates <- c.ToJSON()
		}
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) { b.states <- s })
	pc.OnTrack(func(remote *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			pkt, _, err := remote.ReadRTP()
			if err != nil {
				return
			}
			select {
			case b.received <- pkt:
			default:
			}
		}
	})
	return b
}

// offerTo makes the browser's offer, sets it as its local description and
// returns the echo peer's answer to it.
func (b *browser) offerTo(t *testing.T, p *Peer) string {
	t.Helper()
	offer, err := b.pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	answer, err := p.Answer(offer.SDP)
	if err != nil {
		t.Fatalf("Answer: %v", err)
	}
	return answer
}

// connect runs the offer/answer exchange with an echo peer the way the
// signaling server relays it: the answer first, then trickled candidates.
func (b *browser) connect(t *testing.T, e *Engine) *Peer {
	t.Helper()
	echoCandidates := make(chan webrtc.ICECandidateInit, 16)
	p, err := e.New(nil, func(c webrtc.ICECandidateInit) { echoCandidates <- c })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	answer := b.offerTo(t, p)
	if err := b.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			select {
			case c := <-b.candidates:
				_ = p.AddCandidate(c)
			case c := <-echoCandidates:
				_ = b.pc.AddICECandidate(c)
			case <-time.After(10 * time.Second):
				return
			}
		}
	}()
	return p
}

func (b *browser) awaitState(t *testing.T, want webrtc.PeerConnectionState) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case s := <-b.states:
			if s == want {
				return
			}
		case <-deadline:
			t.Fatalf("peer connection never became %s", want)
		}
	}
}

func TestEchoSendsBackWhatItReceives(t *testing.T) {
	tests := []struct {
		name  string
		codec webrtc.RTPCodecCapability
	}{
		{"audio", webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}},
		{"video", webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}},
	}
	engine, err := NewEngine(Options{LoopbackOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBrowser(t)
			track, err := webrtc.NewTrackLocalStaticRTP(tt.codec, tt.name, "camera")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.pc.AddTrack(track); err != nil {
				t.Fatal(err)
			}
			b.connect(t, engine)
			if got := b.pc.RemoteDescription().SDP; !strings.Contains(got, "a=sendrecv") {
				t.Fatalf("answer does not send back:\n%s", got)
			}
			b.awaitState(t, webrtc.PeerConnectionStateConnected)

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			sent := map[string]bool{}
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for seq := uint16(0); ; seq++ {
				payload := fmt.Appendf(nil, "%s-packet-%d", tt.name, seq)
				sent[string(payload)] = true
				if err := track.WriteRTP(&rtp.Packet{
					Header:  rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 960},
					Payload: payload,
				}); err != nil {
					t.Fatal(err)
				}
				select {
				case pkt := <-b.received:
					if !sent[string(pkt.Payload)] {
						t.Fatalf("echo sent a packet we never sent: %q", pkt.Payload)
					}
					if !bytes.HasPrefix(pkt.Payload, []byte(tt.name)) {
						t.Fatalf("echoed %q on the %s track", pkt.Payload, tt.name)
					}
					return
				case <-tick.C:
				case <-ctx.Done():
					t.Fatal("no packet came back")
				}
			}
		})
	}
}

func TestEchoClosesAfterMaxLifetime(t *testing.T) {
	engine, err := NewEngine(Options{LoopbackOnly: true, MaxLifetime: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t)
	if _, err := b.pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	b.connect(t, engine)
	b.awaitState(t, webrtc.PeerConnectionStateConnected)
	b.awaitState(t, webrtc.PeerConnectionStateClosed)
}

func TestCloseTwice(t *testing.T) {
	engine, err := NewEngine(Options{LoopbackOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	p, err := engine.New(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// TestEchoThroughSignalingServer runs the connection test the way a browser
// does: test-offer over the signaling socket, the answer and candidates back
// as test-answer and test-candidate, then its own audio comes back.
func TestEchoThroughSignalingServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	engine, err := NewEngine(Options{LoopbackOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	r := testroom.Start(t, testroom.Options{
		Echo: func(ice []protocol.ICEServer, onCandidate func(webrtc.ICECandidateInit)) (server.EchoPeer, error) {
			return engine.New(ice, onCandidate)
		},
	})
	conn, err := testpeer.DialConn(ctx, r.WSURL, "")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	if err := conn.Send(ctx, protocol.TypeHello, protocol.Hello{Version: protocol.Version, Token: r.Therapist}); err != nil {
		t.Fatal(err)
	}
	if env, err := conn.Receive(ctx); err != nil || env.Type != protocol.TypeWelcome {
		t.Fatalf("welcome: %v %v", env, err)
	}

	b := newBrowser(t)
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "mic")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.pc.AddTrack(track); err != nil {
		t.Fatal(err)
	}
	offer, err := b.pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	if err := conn.Send(ctx, protocol.TypeTestOffer, protocol.SDP{SDP: offer.SDP}); err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			select {
			case c := <-b.candidates:
				candidate := c.Candidate
				_ = conn.Send(ctx, protocol.TypeTestCandidate, protocol.Candidate{Candidate: &candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex})
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() {
		for {
			env, err := conn.Receive(ctx)
			if err != nil {
				return
			}
			switch env.Type {
			case protocol.TypeTestAnswer:
				answer, _ := protocol.DecodeData[protocol.SDP](env)
				_ = b.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer.SDP})
			case protocol.TypeTestCandidate:
				c, _ := protocol.DecodeData[protocol.Candidate](env)
				if c.Candidate != nil {
					_ = b.pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: *c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex})
				}
			}
		}
	}()
	b.awaitState(t, webrtc.PeerConnectionStateConnected)

	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for seq := uint16(0); ; seq++ {
		payload := fmt.Appendf(nil, "through-server-%d", seq)
		if err := track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 960}, Payload: payload}); err != nil {
			t.Fatal(err)
		}
		select {
		case pkt := <-b.received:
			if !bytes.HasPrefix(pkt.Payload, []byte("through-server-")) {
				t.Fatalf("echoed %q", pkt.Payload)
			}
			return
		case <-tick.C:
		case <-ctx.Done():
			t.Fatal("no audio came back through the connection test")
		}
	}
}

// TestWithTURNTheEchoUsesTheRelayOnly gives the echo peer a TURN server and
// a browser candidate that names a UDP service on this machine: the echo
// must name no address of its own (only relay candidates, no related
// address), and its connectivity checks must reach the service only from
// its relay, never straight from the echo's own socket.
func TestWithTURNTheEchoUsesTheRelayOnly(t *testing.T) {
	ice := turntest.CoturnICE(t, "echo-test")
	engine, err := NewEngine(Options{LoopbackOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	trickled := make(chan string, 64)
	p, err := engine.New(ice, func(c webrtc.ICECandidateInit) { trickled <- c.Candidate })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })

	b := newBrowser(t)
	if _, err := b.pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	answer := b.offerTo(t, p)

	service, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = service.Close() }()
	port := service.LocalAddr().(*net.UDPAddr).Port
	mid := "0"
	if err := p.AddCandidate(webrtc.ICECandidateInit{
		Candidate: "candidate:1 1 udp 2130706431 127.0.0.1 " + strconv.Itoa(port) + " typ host",
		SDPMid:    &mid,
	}); err != nil {
		t.Fatal(err)
	}

	// The service learns the checks' source addresses; three of them,
	// since pion sends checks from every local candidate in turn.
	var sources []string
	buf := make([]byte, 1500)
	for len(sources) < 3 {
		if err := service.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		n, from, err := service.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no connectivity check reached the service through the relay: %v", err)
		}
		if stun.IsMessage(buf[:n]) {
			sources = append(sources, from.String())
		}
	}

	<-webrtc.GatheringCompletePromise(p.pc)
	candidates := []string{}
	for c := range candidatesIn(answer) {
		candidates = append(candidates, c)
	}
	for done := false; !done; {
		select {
		case c := <-trickled:
			candidates = append(candidates, c)
		default:
			done = true
		}
	}
	relays := map[string]bool{}
	for _, c := range candidates {
		f := strings.Fields(c)
		if len(f) < 8 || f[6] != "typ" || f[7] != "relay" {
			t.Errorf("echo candidate %q is not a relay candidate", c)
			continue
		}
		if i := strings.Index(c, " raddr "); i >= 0 && !strings.HasPrefix(c[i:], " raddr 0.0.0.0 rport 0") {
			t.Errorf("echo relay candidate %q names a related address", c)
		}
		relays[net.JoinHostPort(f[4], f[5])] = true
	}
	if len(relays) == 0 {
		t.Fatalf("echo has no relay candidate: %q", candidates)
	}
	for _, s := range sources {
		if !relays[s] {
			t.Errorf("a connectivity check came from %s, not from the echo's relay %v", s, relays)
		}
	}
}

func TestHideRelatedAddress(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"relay over TCP", "candidate:1 1 udp 1023 203.0.113.7 50000 typ relay raddr 10.244.0.12 rport 41234 generation 0",
			"candidate:1 1 udp 1023 203.0.113.7 50000 typ relay raddr 0.0.0.0 rport 0 generation 0"},
		{"host", "candidate:2 1 udp 2130706431 127.0.0.1 5000 typ host", "candidate:2 1 udp 2130706431 127.0.0.1 5000 typ host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := hideRelatedAddress(tt.in); got != tt.want {
				t.Errorf("hideRelatedAddress(%q) = %q, want %q", tt.in, got, tt.want)
			}
			sdp := "v=0\r\na=" + tt.in + "\r\na=end-of-candidates\r\n"
			if got, want := hideRelatedAddresses(sdp), "v=0\r\na="+tt.want+"\r\na=end-of-candidates\r\n"; got != want {
				t.Errorf("hideRelatedAddresses() = %q, want %q", got, want)
			}
		})
	}
}

func TestHasTURN(t *testing.T) {
	tests := []struct {
		name string
		ice  []protocol.ICEServer
		want bool
	}{
		{"none", nil, false},
		{"STUN only", []protocol.ICEServer{{URLs: []string{"stun:stun.example.org"}}}, false},
		{"TURN", []protocol.ICEServer{{URLs: []string{"stun:stun.example.org", "turn:turn.example.org:3478?transport=udp"}}}, true},
		{"TURNS", []protocol.ICEServer{{URLs: []string{"TURNS:turn.example.org:443?transport=tcp"}}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := hasTURN(tt.ice); got != tt.want {
				t.Errorf("hasTURN() = %v, want %v", got, tt.want)
			}
		})
	}
}

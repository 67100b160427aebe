package server

import (
	"encoding/json"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"github.com/sprechzimmer/sprechzimmer/signaling/config"
	"github.com/sprechzimmer/sprechzimmer/signaling/echo"
	"github.com/sprechzimmer/sprechzimmer/signaling/protocol"
	"github.com/sprechzimmer/sprechzimmer/signaling/room"
)

// recordingEcho is an EchoFactory whose peers record what the server does
// with them. Its peers gather one candidate before the answer is returned
// and one after, the way pion does.
type recordingEcho struct {
	mu     sync.Mutex
	peers  []*recordedPeer
	failed bool
}

type recordedPeer struct {
	onCandidate func(webrtc.ICECandidateInit)
	added       chan webrtc.ICECandidateInit
	closed      chan struct{}
	closeOnce   sync.Once
}

func (r *recordingEcho) factory(_ []protocol.ICEServer, onCandidate func(webrtc.ICECandidateInit)) (EchoPeer, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failed {
		return nil, errors.New("no echo today")
	}
	p := &recordedPeer{onCandidate: onCandidate, added: make(chan webrtc.ICECandidateInit, 8), closed: make(chan struct{})}
	r.peers = append(r.peers, p)
	return p, nil
}

func (r *recordingEcho) peer(i int) *recordedPeer {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.peers[i]
}

func (p *recordedPeer) Answer(offer string) (string, error) {
	p.onCandidate(webrtc.ICECandidateInit{Candidate: "candidate:early"})
	return "answer to " + offer, nil
}

func (p *recordedPeer) AddCandidate(c webrtc.ICECandidateInit) error {
	p.added <- c
	return nil
}

func (p *recordedPeer) Close() error {
	p.closeOnce.Do(func() { close(p.closed) })
	return nil
}

func awaitClosed(t *testing.T, p *recordedPeer) {
	t.Helper()
	select {
	case <-p.closed:
	case <-time.After(wait):
		t.Fatal("echo peer not closed")
	}
}

func TestConnectionTestLifecycle(t *testing.T) {
	rec := &recordingEcho{}
	h := newHarness(t, func(_ *config.Config, _ *room.Config, o *Options) {
		o.Echo = rec.factory
		o.MaxEchoPeers = 1
	})
	c := h.dial()
	c.hello(protocol.RoleClient)

	c.send(protocol.TypeTestOffer, `{"sdp":"offer-1"}`)
	if a := expect[protocol.SDP](c, protocol.TypeTestAnswer); a.SDP != "answer to offer-1" {
		t.Fatalf("test-answer %q", a.SDP)
	}
	// The candidate gathered before the answer comes after it.
	if cand := expect[protocol.Candidate](c, protocol.TypeTestCandidate); cand.Candidate == nil || *cand.Candidate != "candidate:early" {
		t.Fatalf("test-candidate %+v", cand)
	}
	first := rec.peer(0)
	first.onCandidate(webrtc.ICECandidateInit{}) // end of the echo's candidates
	if cand := expect[protocol.Candidate](c, protocol.TypeTestCandidate); cand.Candidate != nil {
		t.Fatalf("end of candidates sent as %+v", cand)
	}
	c.send(protocol.TypeTestCandidate, `{"candidate":"candidate:browser","sdpMid":"0"}`)
	c.send(protocol.TypeTestCandidate, `{"candidate":null}`)
	for _, want := range []string{"candidate:browser", ""} {
		select {
		case got := <-first.added:
			if got.Candidate != want {
				t.Fatalf("added %q, want %q", got.Candidate, want)
			}
		case <-time.After(wait):
			t.Fatal("candidate not added")
		}
	}

	// A second tab cannot start a test while the only slot is taken.
	other := h.dial()
	other.hello(protocol.RoleTherapist)
	other.send(protocol.TypeTestOffer, `{"sdp":"offer-x"}`)
	other.expectError(protocol.CodeTestUnavailable)

	// A new test-offer replaces the running test.
	c.send(protocol.TypeTestOffer, `{"sdp":"offer-2"}`)
	awaitClosed(t, first)
	expect[protocol.SDP](c, protocol.TypeTestAnswer)
	expect[protocol.Candidate](c, protocol.TypeTestCandidate)
	second := rec.peer(1)
	c.send(protocol.TypeTestStop, `{}`)
	awaitClosed(t, second)
	second.onCandidate(webrtc.ICECandidateInit{Candidate: "candidate:late"}) // after the stop: dropped

	// The slot is free again; a test still running when the tab goes is closed.
	other.send(protocol.TypeTestOffer, `{"sdp":"offer-3"}`)
	expect[protocol.SDP](other, protocol.TypeTestAnswer)
	_ = other.ws.CloseNow()
	awaitClosed(t, rec.peer(2))

	rec.mu.Lock()
	rec.failed = true
	rec.mu.Unlock()
	c.send(protocol.TypeTestOffer, `{"sdp":"offer-4"}`)
	c.expectError(protocol.CodeTestUnavailable)
	c.join(protocol.RoleClient, "") // the tab goes on into the room
	c.quiet()
}

// pionBrowser is a pion offerer on loopback that stands in for a browser.
func pionBrowser(t *testing.T) *webrtc.PeerConnection {
	t.Helper()
	var settings webrtc.SettingEngine
	settings.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	settings.SetIncludeLoopbackCandidate(true)
	settings.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	settings.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	media := &webrtc.MediaEngine{}
	if err := media.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(media), webrtc.WithSettingEngine(settings)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	return pc
}

func TestConnectionTestWithTheEchoPeerConnects(t *testing.T) {
	h := newHarness(t, func(cfg *config.Config, _ *room.Config, o *Options) {
		cfg.ICEServers = nil
		o.Echo = func(ice []protocol.ICEServer, onCandidate func(webrtc.ICECandidateInit)) (EchoPeer, error) {
			p, err := echo.New(ice, onCandidate)
			if err != nil {
				return nil, err
			}
			return p, nil
		}
	})
	c := h.dial()
	c.hello(protocol.RoleClient)

	pc := pionBrowser(t)
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	connected := make(chan struct{})
	var once sync.Once
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(connected) })
		}
	})
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand == nil {
			return
		}
		b, _ := protocolCandidate(cand.ToJSON())
		c.sendRaw(`{"type":"test-candidate","data":` + b + `}`)
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	sdp, _ := protocolSDP(offer.SDP)
	c.sendRaw(`{"type":"test-offer","data":` + sdp + `}`)
	answer := expect[protocol.SDP](c, protocol.TypeTestAnswer)
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer.SDP}); err != nil {
		t.Fatal(err)
	}
	go func() {
		for env := range c.msgs {
			if env.Type != protocol.TypeTestCandidate {
				continue
			}
			cand, err := protocol.DecodeData[protocol.Candidate](env)
			if err != nil || cand.Candidate == nil {
				continue
			}
			_ = pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: *cand.Candidate, SDPMid: cand.SDPMid, SDPMLineIndex: cand.SDPMLineIndex})
		}
	}()
	select {
	case <-connected:
	case <-time.After(10 * time.Second):
		t.Fatal("the connection test never connected")
	}
	c.send(protocol.TypeTestStop, `{}`)
}

func protocolSDP(sdp string) (string, error) {
	b, err := json.Marshal(protocol.SDP{SDP: sdp})
	return string(b), err
}

func protocolCandidate(c webrtc.ICECandidateInit) (string, error) {
	b, err := json.Marshal(protocol.Candidate{Candidate: &c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex, UsernameFragment: c.UsernameFragment})
	return string(b), err
}

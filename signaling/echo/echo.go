// Package echo is the far end of the pre-call connection test: a WebRTC peer
// inside the signaling server that answers a browser's offer and sends back
// the audio and video it receives, so people see and hear themselves the way
// the other person would before they enter the room.
//
// Given a TURN server, a Peer uses relay candidates only: its answer names
// no address of the room's Pod, and every packet it sends, connectivity
// checks to whatever address a browser names included, goes through the
// TURN server, whose peer policy decides what it may reach.
//
// A Peer is cheap: all peers share one pion API (media engine and settings),
// keep no buffers beyond pion's own, and close themselves after MaxLifetime.
package echo

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/sprechzimmer/sprechzimmer/signaling/protocol"
)

// DefaultMaxLifetime is how long a test peer lives at most.
const DefaultMaxLifetime = 60 * time.Second

// gatherWait bounds how long Answer waits for ICE gathering so that the
// answer can carry the candidates itself. Without STUN or TURN servers,
// gathering ends at once; later candidates are trickled through onCandidate.
const gatherWait = time.Second

// Options tune an Engine.
type Options struct {
	// LoopbackOnly restricts ICE to the loopback interface, for tests and
	// benchmarks on one machine.
	LoopbackOnly bool
	// MaxLifetime is how long a Peer lives at most; 0 means DefaultMaxLifetime.
	MaxLifetime time.Duration
}

// Engine makes echo peers that share one pion API.
type Engine struct {
	api         *webrtc.API
	maxLifetime time.Duration
}

// NewEngine returns an Engine with the default codecs and no interceptors:
// an echo forwards RTP and RTCP unchanged and needs no NACK buffers or reports.
func NewEngine(opts Options) (*Engine, error) {
	media := &webrtc.MediaEngine{}
	if err := media.RegisterDefaultCodecs(); err != nil {
		return nil, fmt.Errorf("registering codecs: %w", err)
	}
	var settings webrtc.SettingEngine
	// Browsers hide host addresses behind mDNS names a server cannot
	// resolve; they reach the echo through their TURN relay candidates.
	settings.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if opts.LoopbackOnly {
		settings.SetIncludeLoopbackCandidate(true)
		settings.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
		settings.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	}
	if opts.MaxLifetime <= 0 {
		opts.MaxLifetime = DefaultMaxLifetime
	}
	return &Engine{
		api:         webrtc.NewAPI(webrtc.WithMediaEngine(media), webrtc.WithSettingEngine(settings)),
		maxLifetime: opts.MaxLifetime,
	}, nil
}

var defaultEngine = sync.OnceValues(func() (*Engine, error) { return NewEngine(Options{}) })

// New returns an echo peer of the default Engine. ice are the STUN and TURN
// servers it may use; onCandidate receives the local ICE candidates that were
// not yet in the answer, and is called only after Answer has built it.
func New(ice []protocol.ICEServer, onCandidate func(webrtc.ICECandidateInit)) (*Peer, error) {
	e, err := defaultEngine()
	if err != nil {
		return nil, err
	}
	return e.New(ice, onCandidate)
}

// Peer is one connection test: it answers one offer and echoes its media.
type Peer struct {
	pc          *webrtc.PeerConnection
	onCandidate func(webrtc.ICECandidateInit)
	expiry      *time.Timer
	closeOnce   sync.Once
	closeErr    error

	mu       sync.Mutex
	answered bool                // guarded by mu: Answer has built the answer
	inAnswer map[string]struct{} // guarded by mu: candidates already in the answer
	senders  map[string]*echoSender
}

// echoSender is the local half of one transceiver: the track the echo
// writes the received RTP to.
type echoSender struct {
	sender *webrtc.RTPSender
	track  *webrtc.TrackLocalStaticRTP
}

// New returns an echo peer that uses ice and reports late local candidates
// to onCandidate. If ice names a TURN server, the peer gathers and uses
// relay candidates only (ICE transport policy "relay"). It closes itself
// after the Engine's MaxLifetime.
func (e *Engine) New(ice []protocol.ICEServer, onCandidate func(webrtc.ICECandidateInit)) (*Peer, error) {
	policy := webrtc.ICETransportPolicyAll
	if hasTURN(ice) {
		policy = webrtc.ICETransportPolicyRelay
	}
	pc, err := e.api.NewPeerConnection(webrtc.Configuration{ICEServers: iceServers(ice), ICETransportPolicy: policy})
	if err != nil {
		return nil, fmt.Errorf("creating peer connection: %w", err)
	}
	p := &Peer{pc: pc, onCandidate: onCandidate, senders: map[string]*echoSender{}}
	p.expiry = time.AfterFunc(e.maxLifetime, func() { _ = p.Close() })
	pc.OnICECandidate(p.localCandidate)
	pc.OnTrack(p.echo)
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateFailed {
			_ = p.Close()
		}
	})
	return p, nil
}

// hasTURN reports whether servers name a TURN server (a turn: or turns: URL).
func hasTURN(servers []protocol.ICEServer) bool {
	for _, s := range servers {
		for _, u := range s.URLs {
			scheme, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(u)), ":")
			if scheme == "turn" || scheme == "turns" {
				return true
			}
		}
	}
	return false
}

func iceServers(servers []protocol.ICEServer) []webrtc.ICEServer {
	out := make([]webrtc.ICEServer, 0, len(servers))
	for _, s := range servers {
		out = append(out, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	return out
}

// Answer takes the browser's offer and returns the answer, which sends back
// every audio and video stream of the offer (sendrecv). The answer carries
// the candidates gathered within a short wait; later ones go to onCandidate.
func (p *Peer) Answer(offerSDP string) (string, error) {
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offerSDP}); err != nil {
		return "", fmt.Errorf("setting offer: %w", err)
	}
	for _, t := range p.pc.GetTransceivers() {
		if err := p.addEchoTrack(t); err != nil {
			return "", err
		}
	}
	answer, err := p.pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("creating answer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(p.pc)
	if err := p.pc.SetLocalDescription(answer); err != nil {
		return "", fmt.Errorf("setting answer: %w", err)
	}
	select {
	case <-gathered:
	case <-time.After(gatherWait):
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	local := p.pc.LocalDescription()
	if local == nil {
		return "", errors.New("echo peer closed while answering")
	}
	sdp := hideRelatedAddresses(local.SDP)
	p.answered = true
	p.inAnswer = candidatesIn(sdp)
	return sdp, nil
}

// addEchoTrack gives a transceiver the offer created a local track, so the
// answer sends as well as receives. The track starts with the first
// negotiated codec; echo swaps it if the browser sends another one.
func (p *Peer) addEchoTrack(t *webrtc.RTPTransceiver) error {
	kind := t.Kind()
	if kind != webrtc.RTPCodecTypeAudio && kind != webrtc.RTPCodecTypeVideo || t.Sender() != nil {
		return nil
	}
	var codec webrtc.RTPCodecCapability
	for _, c := range t.Receiver().GetParameters().Codecs {
		if !strings.HasSuffix(strings.ToLower(c.MimeType), "/rtx") {
			codec = c.RTPCodecCapability
			break
		}
	}
	if codec.MimeType == "" {
		return nil // nothing in common: pion rejects the m-line
	}
	track, err := webrtc.NewTrackLocalStaticRTP(codec, kind.String(), "echo")
	if err != nil {
		return fmt.Errorf("creating %s track: %w", kind, err)
	}
	sender, err := p.pc.AddTrack(track)
	if err != nil {
		return fmt.Errorf("adding %s track: %w", kind, err)
	}
	p.mu.Lock()
	p.senders[t.Mid()] = &echoSender{sender: sender, track: track}
	p.mu.Unlock()
	return nil
}

// echo forwards one received track to its transceiver's local track, and
// the browser's picture loss reports on that track back to the browser.
func (p *Peer) echo(remote *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
	var mid string
	for _, t := range p.pc.GetTransceivers() {
		if t.Receiver() == receiver {
			mid = t.Mid()
		}
	}
	p.mu.Lock()
	out := p.senders[mid]
	p.mu.Unlock()
	if out == nil {
		return
	}
	track := out.track
	if !strings.EqualFold(track.Codec().MimeType, remote.Codec().MimeType) {
		swapped, err := webrtc.NewTrackLocalStaticRTP(remote.Codec().RTPCodecCapability, track.ID(), track.StreamID())
		if err != nil || out.sender.ReplaceTrack(swapped) != nil {
			return
		}
		track = swapped
	}
	go p.forwardPictureLoss(out.sender, uint32(remote.SSRC()))
	for {
		pkt, _, err := remote.ReadRTP()
		if err != nil {
			return
		}
		// ErrClosedPipe only means nobody listens yet; keep reading.
		_ = track.WriteRTP(pkt)
	}
}

// forwardPictureLoss asks the browser for a key frame of its own stream
// whenever it reports a lost picture on the echoed stream.
func (p *Peer) forwardPictureLoss(sender *webrtc.RTPSender, remoteSSRC uint32) {
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, pkt := range pkts {
			switch pkt.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				_ = p.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: remoteSSRC}})
			}
		}
	}
}

// localCandidate passes a candidate gathered after the answer was built to
// onCandidate; earlier ones travel inside the answer.
func (p *Peer) localCandidate(c *webrtc.ICECandidate) {
	if c == nil || p.onCandidate == nil {
		return
	}
	init := c.ToJSON()
	init.Candidate = hideRelatedAddress(init.Candidate)
	p.mu.Lock()
	_, sent := p.inAnswer[init.Candidate]
	late := p.answered && !sent
	p.mu.Unlock()
	if late {
		p.onCandidate(init)
	}
}

// hideRelatedAddresses applies hideRelatedAddress to every candidate line
// of sdp.
func hideRelatedAddresses(sdp string) string {
	lines := strings.Split(sdp, "\n")
	for i, line := range lines {
		if c, ok := strings.CutPrefix(line, "a="); ok && strings.HasPrefix(c, "candidate:") {
			body, cr := strings.CutSuffix(c, "\r")
			lines[i] = "a=" + hideRelatedAddress(body)
			if cr {
				lines[i] += "\r"
			}
		}
	}
	return strings.Join(lines, "\n")
}

// hideRelatedAddress replaces a candidate's related address and port with
// 0.0.0.0 and 0, as browsers do: the related address of a relay candidate
// is the local end of the socket to the TURN server (over TCP, the Pod's
// own address), which the browser does not need.
func hideRelatedAddress(candidate string) string {
	fields := strings.Fields(candidate)
	for i := 0; i+1 < len(fields); i++ {
		switch fields[i] {
		case "raddr":
			fields[i+1] = "0.0.0.0"
		case "rport":
			fields[i+1] = "0"
		default:
			continue
		}
		i++
	}
	return strings.Join(fields, " ")
}

// candidatesIn returns the candidate lines of sdp in the form
// ICECandidateInit.Candidate takes ("candidate:...").
func candidatesIn(sdp string) map[string]struct{} {
	out := map[string]struct{}{}
	for _, line := range strings.Split(sdp, "\n") {
		if c, ok := strings.CutPrefix(strings.TrimSpace(line), "a="); ok && strings.HasPrefix(c, "candidate:") {
			out[c] = struct{}{}
		}
	}
	return out
}

// AddCandidate adds one of the browser's ICE candidates. An empty candidate
// (end of candidates) is accepted and ignored.
func (p *Peer) AddCandidate(c webrtc.ICECandidateInit) error {
	if c.Candidate == "" {
		return nil
	}
	if err := p.pc.AddICECandidate(c); err != nil {
		return fmt.Errorf("adding candidate: %w", err)
	}
	return nil
}

// Close ends the test and frees the peer. It is safe to call more than once.
func (p *Peer) Close() error {
	p.closeOnce.Do(func() {
		p.expiry.Stop()
		if err := p.pc.Close(); err != nil {
			p.closeErr = fmt.Errorf("closing peer connection: %w", err)
		}
	})
	return p.closeErr
}

// Package testpeer is a Go participant of a Sprechzimmer room for tests and
// benchmarks: it joins over the signaling protocol (signaling/PROTOCOL.md)
// like a browser tab, opens a real WebRTC connection to the other person with
// pion, sends one synthetic audio or video track and counts the RTP it gets.
//
// The therapist is the impolite side and offers whenever the other person is
// present; the client is polite and answers. ICE candidates trickle both ways.
package testpeer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/sprechzimmer/sprechzimmer/signaling/protocol"
)

// eventsSize is how many events a Peer keeps for a reader of Events; later
// events are dropped while the buffer is full.
const eventsSize = 256

// sendTimeout bounds sending one message.
const sendTimeout = 10 * time.Second

// Kind is the kind of the synthetic track a Peer sends.
type Kind string

// Track kinds.
const (
	// Audio sends Opus silence, 20 ms frames.
	Audio Kind = "audio"
	// Video sends VP8-labelled frames of filler bytes at 30 per second; a
	// receiver counts them but cannot decode them.
	Video Kind = "video"
)

type options struct {
	origin       string
	name         string
	resume       string
	consent      *protocol.Consent
	consentSet   bool
	kind         Kind
	loopbackOnly bool
}

// Option changes how Dial joins.
type Option func(*options)

// WithName sets the display name sent in join.
func WithName(name string) Option { return func(o *options) { o.name = name } }

// WithResume sends resume in join, to take a role's place back.
func WithResume(resume string) Option { return func(o *options) { o.resume = resume } }

// WithConsent sends c in join instead of full consent to the room's terms
// version; nil sends none.
func WithConsent(c *protocol.Consent) Option {
	return func(o *options) { o.consent, o.consentSet = c, true }
}

// WithKind sets the kind of the synthetic track (default Audio).
func WithKind(k Kind) Option { return func(o *options) { o.kind = k } }

// WithOrigin sets the Origin header (default: the origin of the socket URL).
func WithOrigin(origin string) Option { return func(o *options) { o.origin = origin } }

// WithLoopbackOnly restricts ICE to 127.0.0.1, for tests on one machine.
func WithLoopbackOnly() Option { return func(o *options) { o.loopbackOnly = true } }

// EventType names an Event.
type EventType string

// Event types.
const (
	// EventPeerJoined: the other person entered the room.
	EventPeerJoined EventType = "peer-joined"
	// EventICEConnected: ICE found a working candidate pair.
	EventICEConnected EventType = "ice-connected"
	// EventConnected: the PeerConnection is connected (ICE and DTLS).
	EventConnected EventType = "connected"
	// EventFailed: the PeerConnection failed.
	EventFailed EventType = "failed"
	// EventRemoteTrack: the first RTP packet of a track of the other person.
	EventRemoteTrack EventType = "remote-track"
	// EventPeerLeft: the other person left (Left says why).
	EventPeerLeft EventType = "peer-left"
	// EventRoomClosed: the room expired.
	EventRoomClosed EventType = "room-closed"
	// EventError: the server refused a message (Err has the code).
	EventError EventType = "error"
	// EventClosed: the signaling socket is closed (Err says how).
	EventClosed EventType = "closed"
)

// Event is something that happened to a Peer.
type Event struct {
	// Type is what happened.
	Type EventType
	// At is when the Peer saw it.
	At time.Time
	// Peer is the other person, for EventPeerJoined.
	Peer *protocol.Peer
	// Left says who left and why, for EventPeerLeft.
	Left *protocol.PeerLeft
	// Kind is the track's kind, for EventRemoteTrack.
	Kind string
	// Err is the server's error, for EventError and EventClosed.
	Err *ServerError
}

// ServerError is an error the server reported, or the close of the socket.
type ServerError struct {
	// Code is the protocol error code ("" if the socket closed without one).
	Code protocol.Code
	// Message is the server's message for developers.
	Message string
	// CloseCode is the WebSocket close code, 0 for a non-fatal error.
	CloseCode int
}

// Error returns the code, message and close code.
func (e *ServerError) Error() string {
	return fmt.Sprintf("server error %q (close %d): %s", e.Code, e.CloseCode, e.Message)
}

// packetWaiter is an AwaitPackets call.
type packetWaiter struct {
	n    int64
	done chan struct{}
}

// Peer is one person in a room.
type Peer struct {
	conn    *Conn
	api     *webrtc.API
	welcome protocol.Welcome
	joined  protocol.Joined
	track   *webrtc.TrackLocalStaticSample
	kind    Kind

	events      chan Event
	connected   chan struct{}
	remoteTrack chan struct{}
	closed      chan struct{} // the signaling socket is closed
	stop        chan struct{} // Close was called
	loopDone    chan struct{}
	packets     atomic.Int64
	waitMu      sync.Mutex     // guards waiters and orders it with packets
	waiters     []packetWaiter // AwaitPackets calls
	connOnce    sync.Once
	trackOnce   sync.Once
	closeOnce   sync.Once

	mu            sync.Mutex
	pc            *webrtc.PeerConnection    // guarded by mu; nil outside a call
	localSent     bool                      // guarded by mu: pc's description went out
	localPending  []webrtc.ICECandidateInit // guarded by mu: candidates waiting for it
	remotePending []webrtc.ICECandidateInit // guarded by mu: candidates before the remote description
	remoteSet     bool                      // guarded by mu: pc has the remote description
	err           *ServerError              // guarded by mu: how the socket closed
	lastError     *ServerError              // guarded by mu: the last error message
}

// Dial connects to the signaling socket at wsURL, says hello with token,
// joins (with full consent when the token is the client's, unless an option
// says otherwise) and returns once the server answered joined. A refusal is
// returned as a *ServerError.
func Dial(ctx context.Context, wsURL, token string, opts ...Option) (*Peer, error) {
	o := options{kind: Audio}
	for _, opt := range opts {
		opt(&o)
	}
	track, err := newTrack(o.kind)
	if err != nil {
		return nil, err
	}
	conn, err := DialConn(ctx, wsURL, o.origin)
	if err != nil {
		return nil, err
	}
	p := &Peer{
		conn:        conn,
		api:         newAPI(o.loopbackOnly),
		track:       track,
		kind:        o.kind,
		events:      make(chan Event, eventsSize),
		connected:   make(chan struct{}),
		remoteTrack: make(chan struct{}),
		closed:      make(chan struct{}),
		stop:        make(chan struct{}),
		loopDone:    make(chan struct{}),
	}
	if err := p.enter(ctx, token, o); err != nil {
		_ = conn.Close()
		return nil, err
	}
	go p.sendSamples()
	go p.loop() //nolint:gosec // the loop lives as long as the socket, not as the dial's ctx
	return p, nil
}

func newTrack(k Kind) (*webrtc.TrackLocalStaticSample, error) {
	codec := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}
	if k == Video {
		codec = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	} else if k != Audio {
		return nil, fmt.Errorf("unknown track kind %q", k)
	}
	track, err := webrtc.NewTrackLocalStaticSample(codec, string(k), "sprechzimmer-peer")
	if err != nil {
		return nil, fmt.Errorf("creating %s track: %w", k, err)
	}
	return track, nil
}

func newAPI(loopbackOnly bool) *webrtc.API {
	media := &webrtc.MediaEngine{}
	// RegisterDefaultCodecs fails only on duplicate registrations.
	_ = media.RegisterDefaultCodecs()
	var settings webrtc.SettingEngine
	if loopbackOnly {
		settings.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
		settings.SetIncludeLoopbackCandidate(true)
		settings.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
		settings.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(media), webrtc.WithSettingEngine(settings))
}

// enter says hello and joins.
func (p *Peer) enter(ctx context.Context, token string, o options) error {
	if err := p.conn.Send(ctx, protocol.TypeHello, protocol.Hello{Version: protocol.Version, Token: token}); err != nil {
		return err
	}
	welcome, err := expect[protocol.Welcome](ctx, p.conn, protocol.TypeWelcome)
	if err != nil {
		return err
	}
	p.welcome = welcome
	join := protocol.Join{Name: o.name, Resume: o.resume, Consent: o.consent}
	if !o.consentSet && welcome.Role == protocol.RoleClient {
		join.Consent = &protocol.Consent{TermsAccepted: true, ProcessingAccepted: true, TermsVersion: welcome.TermsVersion}
	}
	if err := p.conn.Send(ctx, protocol.TypeJoin, join); err != nil {
		return err
	}
	joined, err := expect[protocol.Joined](ctx, p.conn, protocol.TypeJoined)
	if err != nil {
		return err
	}
	p.joined = joined
	return nil
}

// expect receives the next message and decodes it as a T of type want. An
// error message, and the close that may follow it, become a *ServerError.
func expect[T any](ctx context.Context, c *Conn, want protocol.Type) (T, error) {
	var zero T
	env, err := c.Receive(ctx)
	if err != nil {
		var ce *ClosedError
		if errors.As(err, &ce) {
			return zero, closeToServerError(ce, nil)
		}
		return zero, err
	}
	switch env.Type {
	case want:
		return protocol.DecodeData[T](env)
	case protocol.TypeError:
		data, err := protocol.DecodeData[protocol.ErrorData](env)
		if err != nil {
			return zero, err
		}
		se := &ServerError{Code: data.Code, Message: data.Message}
		if (&protocol.Error{Code: data.Code}).Fatal() {
			if _, err := c.Receive(ctx); err != nil {
				var ce *ClosedError
				if errors.As(err, &ce) {
					se.CloseCode = ce.Code
				}
			}
		}
		return zero, se
	}
	return zero, fmt.Errorf("expected %s, got %s", want, env.Type)
}

// closeToServerError describes a closed socket; last is the error message
// that came before the close, if any.
func closeToServerError(ce *ClosedError, last *ServerError) *ServerError {
	se := &ServerError{Code: protocol.Code(ce.Reason), CloseCode: ce.Code}
	if last != nil && (&protocol.Error{Code: last.Code}).Fatal() {
		se.Code, se.Message = last.Code, last.Message
	}
	return se
}

// Role returns the role the server gave this Peer's token.
func (p *Peer) Role() protocol.Role { return p.welcome.Role }

// Welcome returns the server's welcome.
func (p *Peer) Welcome() protocol.Welcome { return p.welcome }

// Joined returns the server's answer to join.
func (p *Peer) Joined() protocol.Joined { return p.joined }

// Events returns what happens to the Peer, in order. The channel holds
// eventsSize events; while it is full, new events are dropped.
func (p *Peer) Events() <-chan Event { return p.events }

// Connected is closed when the first PeerConnection is connected.
func (p *Peer) Connected() <-chan struct{} { return p.connected }

// RemoteTrack is closed when the first RTP packet from the other person arrives.
func (p *Peer) RemoteTrack() <-chan struct{} { return p.remoteTrack }

// Packets returns how many RTP packets arrived from the other person.
func (p *Peer) Packets() int64 { return p.packets.Load() }

// Closed is closed when the signaling socket is closed; Err then says how.
func (p *Peer) Closed() <-chan struct{} { return p.closed }

// Err returns how the signaling socket was closed, nil while it is open.
func (p *Peer) Err() *ServerError {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Send sends a message of type t with data as it is, for protocol tests.
func (p *Peer) Send(ctx context.Context, t protocol.Type, data any) error {
	return p.conn.Send(ctx, t, data)
}

func (p *Peer) emit(e Event) {
	e.At = time.Now()
	select {
	case p.events <- e:
	default:
	}
}

// loop handles the server's messages until the socket closes. All
// negotiation happens here, one message after the other.
func (p *Peer) loop() {
	defer close(p.loopDone)
	if !p.joined.Polite && p.joined.Peer != nil {
		p.offer()
	}
	for {
		env, err := p.conn.Receive(context.Background())
		if err != nil {
			var ce *ClosedError
			if !errors.As(err, &ce) {
				ce = &ClosedError{Code: -1, Err: err}
			}
			p.mu.Lock()
			p.err = closeToServerError(ce, p.lastError)
			se := p.err
			p.mu.Unlock()
			p.endCall()
			p.emit(Event{Type: EventClosed, Err: se})
			close(p.closed)
			return
		}
		p.handle(env)
	}
}

func (p *Peer) handle(env *protocol.Envelope) {
	switch env.Type {
	case protocol.TypePeerJoined:
		peer, err := protocol.DecodeData[protocol.Peer](env)
		if err != nil {
			return
		}
		p.emit(Event{Type: EventPeerJoined, Peer: &peer})
		if !p.joined.Polite {
			p.offer()
		}
	case protocol.TypePeerLeft:
		left, err := protocol.DecodeData[protocol.PeerLeft](env)
		if err != nil {
			return
		}
		p.endCall()
		p.emit(Event{Type: EventPeerLeft, Left: &left})
	case protocol.TypeOffer:
		if sdp, err := protocol.DecodeData[protocol.SDP](env); err == nil {
			p.answer(sdp.SDP)
		}
	case protocol.TypeAnswer:
		if sdp, err := protocol.DecodeData[protocol.SDP](env); err == nil {
			p.setRemote(p.current(), webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp.SDP})
		}
	case protocol.TypeCandidate:
		if c, err := protocol.DecodeData[protocol.Candidate](env); err == nil {
			p.addRemoteCandidate(c)
		}
	case protocol.TypeRoomClosed:
		p.emit(Event{Type: EventRoomClosed})
	case protocol.TypeError:
		data, err := protocol.DecodeData[protocol.ErrorData](env)
		if err != nil {
			return
		}
		se := &ServerError{Code: data.Code, Message: data.Message}
		p.mu.Lock()
		p.lastError = se
		p.mu.Unlock()
		p.emit(Event{Type: EventError, Err: se})
	}
}

// newPC replaces the call's PeerConnection with a fresh one that sends the
// synthetic track.
func (p *Peer) newPC() (*webrtc.PeerConnection, error) {
	servers := make([]webrtc.ICEServer, 0, len(p.welcome.ICEServers))
	for _, s := range p.welcome.ICEServers {
		servers = append(servers, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	pc, err := p.api.NewPeerConnection(webrtc.Configuration{ICEServers: servers})
	if err != nil {
		return nil, fmt.Errorf("creating peer connection: %w", err)
	}
	if _, err := pc.AddTrack(p.track); err != nil {
		_ = pc.Close()
		return nil, fmt.Errorf("adding track: %w", err)
	}
	pc.OnICECandidate(func(c *webrtc.ICECandidate) { p.localCandidate(pc, c) })
	pc.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) {
		if s == webrtc.ICEConnectionStateConnected {
			p.emit(Event{Type: EventICEConnected})
		}
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		switch s {
		case webrtc.PeerConnectionStateConnected:
			p.connOnce.Do(func() { close(p.connected) })
			p.emit(Event{Type: EventConnected})
		case webrtc.PeerConnectionStateFailed:
			p.emit(Event{Type: EventFailed})
		}
	})
	pc.OnTrack(p.countRTP)
	p.endCall()
	p.mu.Lock()
	p.pc = pc
	p.mu.Unlock()
	return pc, nil
}

// current returns the call's PeerConnection, nil outside a call.
func (p *Peer) current() *webrtc.PeerConnection {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pc
}

// offer starts a call: a fresh PeerConnection that sends the synthetic track
// and receives either kind, and an offer for the other person.
func (p *Peer) offer() {
	pc, err := p.newPC()
	if err != nil {
		return
	}
	other := webrtc.RTPCodecTypeVideo
	if p.kind == Video {
		other = webrtc.RTPCodecTypeAudio
	}
	if _, err := pc.AddTransceiverFromKind(other, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		return
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		return
	}
	p.sendLocal(pc, protocol.TypeOffer, offer.SDP)
}

// answer takes the other person's offer. The impolite side ignores an offer
// that collides with its own (perfect negotiation); the polite side drops
// its own and answers.
func (p *Peer) answer(sdp string) {
	pc := p.current()
	if pc != nil && pc.SignalingState() != webrtc.SignalingStateStable {
		if !p.joined.Polite {
			return
		}
		pc = nil
	}
	if pc == nil {
		var err error
		if pc, err = p.newPC(); err != nil {
			return
		}
	}
	p.mu.Lock()
	p.localSent, p.localPending = false, nil
	p.mu.Unlock()
	if !p.setRemote(pc, webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}) {
		return
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return
	}
	if err := pc.SetLocalDescription(answer); err != nil {
		return
	}
	p.sendLocal(pc, protocol.TypeAnswer, answer.SDP)
}

// setRemote applies a remote description to pc and then the candidates that
// came before it. It reports whether the description was applied.
func (p *Peer) setRemote(pc *webrtc.PeerConnection, desc webrtc.SessionDescription) bool {
	if pc == nil || pc.SetRemoteDescription(desc) != nil {
		return false
	}
	p.mu.Lock()
	if p.pc != pc {
		p.mu.Unlock()
		return false
	}
	p.remoteSet = true
	pending := p.remotePending
	p.remotePending = nil
	p.mu.Unlock()
	for _, c := range pending {
		_ = pc.AddICECandidate(c)
	}
	return true
}

func (p *Peer) addRemoteCandidate(c protocol.Candidate) {
	if c.Candidate == nil || *c.Candidate == "" {
		return // end of candidates
	}
	init := webrtc.ICECandidateInit{
		Candidate: *c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex, UsernameFragment: c.UsernameFragment,
	}
	p.mu.Lock()
	pc := p.pc
	if pc == nil || !p.remoteSet {
		p.remotePending = append(p.remotePending, init)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	_ = pc.AddICECandidate(init)
}

// sendLocal sends pc's description, then the candidates gathered meanwhile,
// so the other side never gets a candidate before the description.
func (p *Peer) sendLocal(pc *webrtc.PeerConnection, t protocol.Type, sdp string) {
	ctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
	defer cancel()
	if err := p.conn.Send(ctx, t, protocol.SDP{SDP: sdp}); err != nil {
		return
	}
	p.mu.Lock()
	if p.pc != pc {
		p.mu.Unlock()
		return
	}
	p.localSent = true
	pending := p.localPending
	p.localPending = nil
	p.mu.Unlock()
	for _, c := range pending {
		p.sendCandidate(ctx, c)
	}
}

func (p *Peer) localCandidate(pc *webrtc.PeerConnection, c *webrtc.ICECandidate) {
	if c == nil {
		return
	}
	init := c.ToJSON()
	p.mu.Lock()
	if p.pc != pc {
		p.mu.Unlock()
		return
	}
	if !p.localSent {
		p.localPending = append(p.localPending, init)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
	defer cancel()
	p.sendCandidate(ctx, init)
}

func (p *Peer) sendCandidate(ctx context.Context, c webrtc.ICECandidateInit) {
	candidate := c.Candidate
	_ = p.conn.Send(ctx, protocol.TypeCandidate, protocol.Candidate{
		Candidate: &candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex, UsernameFragment: c.UsernameFragment,
	})
}

// countRTP counts the packets of a remote track.
func (p *Peer) countRTP(remote *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	for first := true; ; first = false {
		if _, _, err := remote.ReadRTP(); err != nil {
			return
		}
		p.countPacket()
		if first {
			p.trackOnce.Do(func() { close(p.remoteTrack) })
			p.emit(Event{Type: EventRemoteTrack, Kind: remote.Kind().String()})
		}
	}
}

// countPacket counts one received RTP packet and wakes the AwaitPackets
// calls it satisfies.
func (p *Peer) countPacket() {
	p.waitMu.Lock()
	defer p.waitMu.Unlock()
	got := p.packets.Add(1)
	kept := p.waiters[:0]
	for _, w := range p.waiters {
		if got >= w.n {
			close(w.done)
		} else {
			kept = append(kept, w)
		}
	}
	p.waiters = kept
}

// AwaitPackets returns once n RTP packets in total have arrived from the
// other person, or with an error when ctx ends first.
func (p *Peer) AwaitPackets(ctx context.Context, n int64) error {
	p.waitMu.Lock()
	if p.packets.Load() >= n {
		p.waitMu.Unlock()
		return nil
	}
	done := make(chan struct{})
	p.waiters = append(p.waiters, packetWaiter{n: n, done: done})
	p.waitMu.Unlock()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%d of %d RTP packets: %w", p.packets.Load(), n, ctx.Err())
	}
}

// sendSamples feeds the synthetic track until Close.
func (p *Peer) sendSamples() {
	frame, every := []byte{0xf8, 0xff, 0xfe}, 20*time.Millisecond // Opus silence
	if p.kind == Video {
		frame, every = make([]byte, 1000), 33*time.Millisecond
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			_ = p.track.WriteSample(media.Sample{Data: frame, Duration: every})
		case <-p.stop:
			return
		}
	}
}

// endCall closes the call's PeerConnection; the room stays joined.
func (p *Peer) endCall() {
	p.mu.Lock()
	pc := p.pc
	p.pc, p.localSent, p.remoteSet, p.localPending, p.remotePending = nil, false, false, nil, nil
	p.mu.Unlock()
	if pc != nil {
		_ = pc.Close()
	}
}

// Hangup leaves the room: it tells the server and ends the call.
func (p *Peer) Hangup(ctx context.Context) error {
	if err := p.conn.Send(ctx, protocol.TypeHangup, nil); err != nil {
		return err
	}
	p.endCall()
	return nil
}

// Close ends the call, closes the signaling socket and stops the Peer.
func (p *Peer) Close() error {
	var err error
	p.closeOnce.Do(func() {
		close(p.stop)
		p.endCall()
		err = p.conn.Close()
		<-p.loopDone
	})
	return err
}

// Admit is the therapist letting the waiting client in (a session's
// default admission): the server then introduces the two and the therapist
// offers.
func (p *Peer) Admit(ctx context.Context) error {
	return p.conn.Send(ctx, protocol.TypeAdmit, struct{}{})
}

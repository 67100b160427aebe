// Package room is one appointment's room: who is connected, who is in the
// room (at most one connection per role), the client's admission by the
// therapist, the relay of offers, answers and candidates between the two
// people in the call, and the room's state for the VideoSession's status.
//
// Admission: a client who joins waits until the therapist admits them
// (unless Config.AutomaticAdmission). Until then the client receives
// nothing of the therapist: no peer, name, SDP or candidate, not even
// whether the therapist is there; the therapist is told that the client
// waits. Only two people in the call relay to each other.
//
// A Room has its own mutex. Methods and helpers whose names end in Locked
// expect it held. Nothing calls out to a connection while holding it: the
// handlers queue frames in an outbox under the lock, and flush delivers them
// afterwards, in order, under a second mutex that only serializes delivery.
package room

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"sync"
	"time"

	"github.com/sprechzimmer/sprechzimmer/internal/jointoken"
	"github.com/sprechzimmer/sprechzimmer/signaling/config"
	"github.com/sprechzimmer/sprechzimmer/signaling/protocol"
)

// DefaultProbeTimeout is how long a held seat's connection has to answer the
// liveness probe before a reconnect of the same role takes its place.
const DefaultProbeTimeout = 2 * time.Second

// DefaultResumeGrace is how long a seat's device that lost its connection
// can take the seat back with its resume, even from another device that
// entered in the meantime.
const DefaultResumeGrace = 2 * time.Minute

// Conn is a browser connection as the room sees it. The server's
// implementation queues to a writer goroutine; none of the methods may block
// for long, except Probe.
type Conn interface {
	// Send queues one frame.
	Send(frame []byte)
	// Close queues closing the WebSocket with code, after the queued frames.
	Close(code int, reason string)
	// Probe returns nil when the connection answers a ping before ctx ends.
	Probe(ctx context.Context) error
}

// Config is what a room needs to know.
type Config struct {
	// Therapist and Client are the hashes of the two join tokens.
	Therapist, Client jointoken.Hash
	// ExpiresAt is the end of the room.
	ExpiresAt time.Time
	// TermsVersion is the terms version a client must consent to.
	TermsVersion string
	// Language is the room's default UI language.
	Language string
	// ICEServers are handed to the browsers in welcome.
	ICEServers []protocol.ICEServer
	// StartsAt is the appointment's start, shown in the waiting room; zero
	// when unknown.
	StartsAt time.Time
	// AutomaticAdmission admits the client as soon as they join; otherwise
	// the therapist admits them.
	AutomaticAdmission bool
	// ProbeTimeout is the liveness probe's deadline; DefaultProbeTimeout if zero.
	ProbeTimeout time.Duration
	// ResumeGrace is how long a seat's device that lost its connection
	// wins the seat back with its resume; DefaultResumeGrace if zero.
	ResumeGrace time.Duration
	// Now is the clock; time.Now if nil.
	Now func() time.Time
	// OnChange, if set, gets the state after every change, in order, never
	// with the room's lock held. It must not block.
	OnChange func(State)
}

// FromConfig returns the room part of the signaling server's configuration.
func FromConfig(c *config.Config) Config {
	return Config{
		Therapist:    c.TherapistToken,
		Client:       c.ClientToken,
		ExpiresAt:    c.ExpiresAt,
		TermsVersion: c.TermsVersion,
		Language:     c.Language,
		ICEServers:   c.ICEServers,
		StartsAt:     c.StartsAt,

		AutomaticAdmission: c.Admission == config.AdmissionAutomatic,
	}
}

// State is what the room reports to its VideoSession.
//
// Participants counts the people in the room, a waiting client included.
// StartedAt is the first moment both people were in the call (the client
// admitted); it never changes afterwards. EndedAt is the moment the call
// last went from two people to fewer (a hangup, the therapist's end, a
// dropped connection, or expiry with both in the call); both being in the
// call again clears it. A reconnect that replaces a
// connection is one atomic swap and never drops the room below two, so it
// does not end the call.
type State struct {
	// Participants is the number of people in the room, 0 to 2.
	Participants int
	// StartedAt is zero until both were present.
	StartedAt time.Time
	// EndedAt is zero while the call is running or has not started.
	EndedAt time.Time
	// RefusedJoins counts the attempts to enter that were refused, the
	// errors answered with one of RefusalCodes (the VideoSession API's
	// "room full, link not valid, no consent").
	RefusedJoins int
}

// Room is one appointment's room.
type Room struct {
	cfg Config

	// sendMu serializes flush so frames and states leave in the order they
	// were queued. It is taken before mu, never while holding mu.
	sendMu sync.Mutex

	mu      sync.Mutex
	members map[*Member]struct{}
	seats   map[protocol.Role]*Member
	// pending[r] means r sent an offer the other role has not answered.
	pending map[protocol.Role]bool
	// away[r] is the device that held r's seat until its connection
	// dropped or failed the probe; see join.
	away  map[protocol.Role]awayDevice
	state State
	// inCall is whether both people were in the call at the last change.
	inCall  bool
	changed bool
	closed  bool
	outbox  []delivery
}

// delivery is one queued frame and/or close for a connection.
type delivery struct {
	to     Conn
	frame  []byte
	close  int
	reason string
}

// awayDevice is the seat's device while another connection may hold the
// seat: the resume it was given and the end of its grace period.
type awayDevice struct {
	resume string
	until  time.Time
	// admitted keeps a client's admission for the device's return.
	admitted bool
}

// Member is one connection's place in the room, from the WebSocket's start
// to its end. Its fields are guarded by the room's mutex.
type Member struct {
	room     *Room
	conn     Conn
	welcomed bool
	role     protocol.Role
	name     string
	resume   string
	gone     bool
	// otherDevice marks a connection that entered while the seat's device
	// was away (see join); the other person is told with Peer.OtherDevice.
	otherDevice bool
	// admitted is true for a seated client the therapist has let in (or
	// the room admitted at once); the therapist is always in the call.
	admitted bool
	// check is the client's test summary from join.
	check *protocol.Check
}

// New returns an empty room.
func New(cfg Config) *Room {
	if cfg.ProbeTimeout == 0 {
		cfg.ProbeTimeout = DefaultProbeTimeout
	}
	if cfg.ResumeGrace == 0 {
		cfg.ResumeGrace = DefaultResumeGrace
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Room{
		cfg:     cfg,
		members: map[*Member]struct{}{},
		seats:   map[protocol.Role]*Member{},
		pending: map[protocol.Role]bool{},
		away:    map[protocol.Role]awayDevice{},
	}
}

// State returns the room's current state.
func (r *Room) State() State {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state
}

// Closed reports whether the room has expired.
func (r *Room) Closed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// Connect registers a new connection. After expiry the connection gets
// room-closed and is closed with 4006 at once.
func (r *Room) Connect(c Conn) *Member {
	m := &Member{room: r, conn: c}
	r.mu.Lock()
	if r.closed {
		m.gone = true
		r.sendLocked(m, protocol.TypeRoomClosed, protocol.RoomClosed{Reason: protocol.ClosedExpired})
		r.closeLocked(m, protocol.CloseRoomClosed, string(protocol.CodeRoomClosed))
	} else {
		r.members[m] = struct{}{}
	}
	r.mu.Unlock()
	r.flush()
	return m
}

// Restore merges what the session's status held before this process
// started (a restarted room reads it back first), so that times never go
// backwards: the earlier start stays; a call the status shows running that
// this process does not hold ended at the latest now (with the old
// process), or when the status says; refused joins add up. The merged state
// is reported like any change.
func (r *Room) Restore(stored State) {
	r.mu.Lock()
	if !stored.StartedAt.IsZero() && (r.state.StartedAt.IsZero() || stored.StartedAt.Before(r.state.StartedAt)) {
		r.state.StartedAt = stored.StartedAt
	}
	if !r.state.StartedAt.IsZero() && len(r.seats) < 2 && r.state.EndedAt.IsZero() {
		r.state.EndedAt = stored.EndedAt
		if r.state.EndedAt.IsZero() {
			r.state.EndedAt = r.cfg.Now()
		}
	}
	r.state.RefusedJoins += stored.RefusedJoins
	r.changed = true
	r.mu.Unlock()
	r.flush()
}

// Expire closes the room: everyone connected gets room-closed and is closed
// with 4006. Later calls do nothing.
func (r *Room) Expire() {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		for m := range r.members {
			m.gone = true
			r.sendLocked(m, protocol.TypeRoomClosed, protocol.RoomClosed{Reason: protocol.ClosedExpired})
			r.closeLocked(m, protocol.CloseRoomClosed, string(protocol.CodeRoomClosed))
		}
		clear(r.members)
		if r.inCallLocked() {
			r.state.EndedAt = r.cfg.Now()
		}
		r.inCall = false
		clear(r.seats)
		clear(r.pending)
		clear(r.away)
		r.state.Participants = 0
		r.changed = true
	}
	r.mu.Unlock()
	r.flush()
}

// Role returns the connection's role once welcomed.
func (m *Member) Role() (protocol.Role, bool) {
	m.room.mu.Lock()
	defer m.room.mu.Unlock()
	return m.role, m.welcomed
}

// Receive handles one decoded message from the connection. It answers
// errors itself (an error message, and the close for fatal ones) and returns
// the *protocol.Error it answered, or nil. Messages of the connection test
// are the server's: for a welcomed connection Receive accepts them without
// doing anything.
func (m *Member) Receive(env *protocol.Envelope) error {
	err := m.receive(env)
	m.room.flush()
	if err != nil {
		return err
	}
	return nil
}

// Refuse answers an error the server found before the room saw the message
// (too-large, bad-message, unknown-type, rate-limited).
// Before hello every error is hello-required and fatal. It returns the
// error that was answered.
func (m *Member) Refuse(perr *protocol.Error) *protocol.Error {
	r := m.room
	r.mu.Lock()
	if !m.welcomed {
		perr = protocol.NewError(protocol.CodeHelloRequired, "the first message must be hello")
	}
	if !m.gone {
		r.refuseLocked(m, perr)
	}
	r.mu.Unlock()
	r.flush()
	return perr
}

// HelloMissing closes the connection with hello-required if it has not been
// welcomed yet, and returns that error; for a welcomed connection it does
// nothing and returns nil. The check and the close are one step, so a hello
// arriving at the same moment is never cut off.
func (m *Member) HelloMissing() error {
	r := m.room
	r.mu.Lock()
	if m.welcomed || m.gone {
		r.mu.Unlock()
		return nil
	}
	perr := protocol.NewError(protocol.CodeHelloRequired, "no hello in time")
	r.refuseLocked(m, perr)
	r.mu.Unlock()
	r.flush()
	return perr
}

// Disconnect removes the connection after its WebSocket ended. If it was in
// the room, the other person gets peer-left with reason gone.
func (m *Member) Disconnect() {
	r := m.room
	r.mu.Lock()
	if !m.gone {
		m.gone = true
		delete(r.members, m)
		if r.seats[m.role] == m {
			r.leaveLocked(m, protocol.LeftGone)
		}
	}
	r.mu.Unlock()
	r.flush()
}

// receive dispatches env; it returns the answered error, if any.
func (m *Member) receive(env *protocol.Envelope) *protocol.Error {
	r := m.room
	if env.Type == protocol.TypeJoin {
		return m.join(env)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if m.gone {
		return nil
	}
	var perr *protocol.Error
	switch {
	case env.Type == protocol.TypeHello:
		perr = m.helloLocked(env)
	case !m.welcomed:
		perr = protocol.NewError(protocol.CodeHelloRequired, "the first message must be hello")
	case env.Type == protocol.TypeHangup:
		if r.seats[m.role] != m {
			perr = protocol.NewError(protocol.CodeNotJoined, "hangup outside the room")
		} else {
			r.leaveLocked(m, protocol.LeftHangup)
		}
	case env.Type == protocol.TypeOffer, env.Type == protocol.TypeAnswer, env.Type == protocol.TypeCandidate:
		perr = m.relayLocked(env)
	case env.Type == protocol.TypeAdmit:
		perr = m.admitLocked()
	case env.Type == protocol.TypeEnd:
		perr = m.endLocked()
	default:
		perr = protocol.NewError(protocol.CodeUnknownType, "not a browser message type")
	}
	if perr != nil {
		r.refuseLocked(m, perr)
	}
	return perr
}

// helloLocked authenticates the connection by its token.
func (m *Member) helloLocked(env *protocol.Envelope) *protocol.Error {
	r := m.room
	if m.welcomed {
		return protocol.NewError(protocol.CodeAlreadyWelcomed, "hello was already answered")
	}
	h, err := protocol.DecodeData[protocol.Hello](env)
	if err != nil {
		return protocol.NewError(protocol.CodeHelloRequired, "hello data of the wrong shape")
	}
	if h.Version != protocol.Version {
		return protocol.NewError(protocol.CodeVersionUnsupported, "this server speaks protocol version 2")
	}
	// Both comparisons run, each in constant time.
	therapist := r.cfg.Therapist.Matches(h.Token)
	client := r.cfg.Client.Matches(h.Token)
	if !therapist && !client {
		return protocol.NewError(protocol.CodeLinkInvalid, "the token is not valid for this room")
	}
	if r.closed || !r.cfg.Now().Before(r.cfg.ExpiresAt) {
		return protocol.NewError(protocol.CodeLinkExpired, "the room has expired")
	}
	m.welcomed = true
	m.role = protocol.RoleClient
	if therapist {
		m.role = protocol.RoleTherapist
	}
	servers := r.cfg.ICEServers
	if servers == nil {
		servers = []protocol.ICEServer{}
	}
	w := protocol.Welcome{
		Role:         m.role,
		TermsVersion: r.cfg.TermsVersion,
		Language:     r.cfg.Language,
		ExpiresAt:    r.cfg.ExpiresAt.UTC(),
		ICEServers:   servers,
		SeatInUse:    r.seats[m.role] != nil,
	}
	if !r.cfg.StartsAt.IsZero() {
		start := r.cfg.StartsAt.UTC()
		w.StartsAt = &start
	}
	r.sendLocked(m, protocol.TypeWelcome, w)
	return nil
}

// join admits the connection to its role's seat. When the seat is held by
// another connection without a matching resume, it probes the holder with
// the lock released and decides again under the lock.
//
// A seat belongs to its device, the tab that holds the seat's latest resume.
// When that device loses its connection (it drops, or fails the probe of a
// reconnect) the room remembers it as away. Another connection that enters
// while the device is away is marked otherDevice, and the other person is
// told so in peer-joined or joined. The away device's resume wins the seat
// back within Config.ResumeGrace: the holder gets reclaimed (4007). After
// the grace period its resume gets seat-taken while a live connection holds
// the seat, and enters when the seat is free. Only a lost connection makes
// a device away, never a hangup; the device entering again, or the room's
// end, ends it. While one device is away, later ones are not remembered.
func (m *Member) join(env *protocol.Envelope) *protocol.Error {
	r := m.room
	r.mu.Lock()
	if m.gone {
		r.mu.Unlock()
		return nil
	}
	j, holder, admitted, perr := m.checkJoinLocked(env)
	probed := perr == nil && holder != nil
	if probed {
		r.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.ProbeTimeout)
		probeErr := holder.conn.Probe(ctx)
		cancel()
		r.mu.Lock()
		switch {
		case m.gone:
			r.mu.Unlock()
			return nil
		case r.closed:
			perr = protocol.NewError(protocol.CodeLinkExpired, "the room has expired")
		case r.seats[m.role] == m:
			perr = protocol.NewError(protocol.CodeAlreadyJoined, "already in the room")
		case r.seats[m.role] == nil:
			holder = nil
		case r.seats[m.role] == holder && probeErr != nil:
		case r.returningLocked(m.role, j.Resume):
			perr = protocol.NewError(protocol.CodeSeatTaken, "another device holds this seat since the grace period ended")
		default:
			perr = protocol.NewError(protocol.CodeRoomFull, "two people are already in this room")
		}
	}
	if perr == nil {
		if probed {
			if holder != nil {
				r.awayLocked(holder)
				r.replaceLocked(holder, protocol.NewError(protocol.CodeReplaced, "the call continues in another window"))
			}
			admitted = r.returningLocked(m.role, j.Resume) && r.away[m.role].admitted
		}
		r.enterLocked(m, j, admitted)
	} else {
		r.refuseLocked(m, perr)
	}
	r.mu.Unlock()
	return perr
}

// checkJoinLocked validates a join. It returns the join with its name
// cleaned and, when the seat is held by a connection whose resume does not
// match, that holder for a liveness probe. A matching resume replaces the
// holder at once, and so does the away device's resume within its grace
// period (the holder is reclaimed), and a takeover (the link's other
// window is told replaced). admitted is the client's admission the entering
// connection keeps: that of the same device (a matching resume), never a
// takeover's or another device's.
func (m *Member) checkJoinLocked(env *protocol.Envelope) (j protocol.Join, holder *Member, admitted bool, perr *protocol.Error) {
	r := m.room
	switch {
	case !m.welcomed:
		return j, nil, false, protocol.NewError(protocol.CodeHelloRequired, "the first message must be hello")
	case r.seats[m.role] == m:
		return j, nil, false, protocol.NewError(protocol.CodeAlreadyJoined, "already in the room")
	}
	j, err := protocol.DecodeData[protocol.Join](env)
	if err != nil {
		return j, nil, false, asError(err)
	}
	if j.Check != nil && !j.Check.Valid() {
		return j, nil, false, protocol.NewError(protocol.CodeBadMessage, "check holds a value that is not a check result")
	}
	if m.role == protocol.RoleClient {
		c := j.Consent
		if c == nil || !c.TermsAccepted || !c.ProcessingAccepted || c.TermsVersion != r.cfg.TermsVersion {
			return j, nil, false, protocol.NewError(protocol.CodeConsentRequired, "join needs consent to the current terms")
		}
	}
	j.Name, _ = protocol.CleanName(j.Name)
	if p := protocol.CheckName(j.Name); p != protocol.NameOK {
		return j, nil, false, protocol.NewError(protocol.CodeBadName, "name refused: "+string(p))
	}
	returning := r.returningLocked(m.role, j.Resume)
	holder = r.seats[m.role]
	switch {
	case holder == nil:
		return j, nil, returning && r.away[m.role].admitted, nil
	case returning && r.cfg.Now().Before(r.away[m.role].until):
		admitted = r.away[m.role].admitted
		r.replaceLocked(holder, protocol.NewError(protocol.CodeReclaimed, "the link's earlier device took its place back"))
		return j, nil, admitted, nil
	case sameResume(j.Resume, holder.resume):
		r.replaceLocked(holder, protocol.NewError(protocol.CodeReplaced, "the call continues in another window"))
		return j, nil, holder.admitted, nil
	case j.Takeover:
		r.replaceLocked(holder, protocol.NewError(protocol.CodeReplaced, "the call continues in another window"))
		return j, nil, false, nil
	}
	return j, holder, false, nil
}

// returningLocked reports whether resume is that of role's away device.
func (r *Room) returningLocked(role protocol.Role, resume string) bool {
	a, ok := r.away[role]
	return ok && sameResume(resume, a.resume)
}

// awayLocked remembers m, which loses its seat without hanging up, as its
// seat's away device, unless an earlier device is away already.
func (r *Room) awayLocked(m *Member) {
	if _, ok := r.away[m.role]; !ok {
		r.away[m.role] = awayDevice{resume: m.resume, until: r.cfg.Now().Add(r.cfg.ResumeGrace), admitted: m.admitted}
	}
}

// sameResume compares a sent resume with a given one in constant time; an
// empty one never matches.
func sameResume(sent, given string) bool {
	return sent != "" && subtle.ConstantTimeCompare([]byte(sent), []byte(given)) == 1
}

// relayLocked passes offer, answer or candidate to the other person.
func (m *Member) relayLocked(env *protocol.Envelope) *protocol.Error {
	r := m.room
	if r.seats[m.role] != m {
		return protocol.NewError(protocol.CodeNotJoined, string(env.Type)+" outside the room")
	}
	other := r.callPeerLocked(m)
	if other == nil {
		return protocol.NewError(protocol.CodeNoPeer, "the other person is not in the call")
	}
	var data any
	switch env.Type {
	case protocol.TypeOffer, protocol.TypeAnswer:
		sdp, err := protocol.DecodeData[protocol.SDP](env)
		if err != nil {
			return asError(err)
		}
		if sdp.SDP == "" {
			return protocol.NewError(protocol.CodeBadMessage, string(env.Type)+" without sdp")
		}
		if env.Type == protocol.TypeAnswer {
			if !r.pending[other.role] {
				return protocol.NewError(protocol.CodeUnexpectedAnswer, "no offer from the other person is pending")
			}
			delete(r.pending, other.role)
		} else {
			r.pending[m.role] = true
		}
		data = sdp
	case protocol.TypeCandidate:
		c, err := protocol.DecodeData[protocol.Candidate](env)
		if err != nil {
			return asError(err)
		}
		data = c
	}
	r.sendLocked(other, env.Type, data)
	return nil
}

// enterLocked seats m, answers joined and tells the other person. m is the
// seat's device again when its resume is the away device's or none is away;
// otherwise it is marked otherDevice. A client keeps the admission given
// (that of the same device), is admitted at once with automatic admission,
// or else waits: the therapist gets client-waiting, the client a joined
// with waiting and no peer.
func (r *Room) enterLocked(m *Member, j protocol.Join, admitted bool) {
	m.name = j.Name
	m.check = j.Check
	m.otherDevice = false
	if _, ok := r.away[m.role]; ok && !r.returningLocked(m.role, j.Resume) {
		m.otherDevice = true
	} else {
		delete(r.away, m.role)
	}
	m.admitted = m.role == protocol.RoleClient && (admitted || r.cfg.AutomaticAdmission)
	m.resume = newResume()
	r.seats[m.role] = m
	clear(r.pending)
	joined := protocol.Joined{Polite: m.role == protocol.RoleClient, Resume: m.resume, Waiting: r.waitingLocked(m)}
	if other := r.callPeerLocked(m); other != nil {
		joined.Peer = peerOf(other)
		r.sendLocked(other, protocol.TypePeerJoined, peerOf(m))
	}
	r.sendLocked(m, protocol.TypeJoined, joined)
	if client := r.seats[protocol.RoleClient]; client != nil && r.waitingLocked(client) && r.seats[protocol.RoleTherapist] != nil {
		r.sendLocked(r.seats[protocol.RoleTherapist], protocol.TypeClientWaiting, protocol.ClientWaiting{Name: client.name, OtherDevice: client.otherDevice, Check: client.check})
	}
	r.seatsChangedLocked()
}

// peerOf describes m to the other person.
func peerOf(m *Member) *protocol.Peer {
	return &protocol.Peer{Role: m.role, Name: m.name, OtherDevice: m.otherDevice}
}

// waitingLocked reports whether m is a seated client not yet admitted.
func (r *Room) waitingLocked(m *Member) bool {
	return m.role == protocol.RoleClient && !m.admitted && r.seats[m.role] == m
}

// callPeerLocked returns the other person when both m and they are in the
// call (seated, the client admitted), else nil.
func (r *Room) callPeerLocked(m *Member) *Member {
	other := r.seats[m.role.Other()]
	if other == nil || r.seats[m.role] != m || r.waitingLocked(m) || r.waitingLocked(other) {
		return nil
	}
	return other
}

// toldOfLocked returns the seated person who is to hear that m leaves:
// anyone but a waiting client, who learns nothing of the therapist.
func (r *Room) toldOfLocked(m *Member) *Member {
	other := r.seats[m.role.Other()]
	if other == nil || r.waitingLocked(other) {
		return nil
	}
	return other
}

// admitLocked lets the waiting client into the call: the client gets
// admitted with the therapist as peer, the therapist peer-joined, and the
// therapist offers as the one already in the call.
func (m *Member) admitLocked() *protocol.Error {
	r := m.room
	switch {
	case m.role != protocol.RoleTherapist:
		return protocol.NewError(protocol.CodeNotTherapist, "only the therapist admits")
	case r.seats[m.role] != m:
		return protocol.NewError(protocol.CodeNotJoined, "admit outside the room")
	}
	client := r.seats[protocol.RoleClient]
	if client == nil || !r.waitingLocked(client) {
		return protocol.NewError(protocol.CodeNotWaiting, "no client is waiting")
	}
	client.admitted = true
	clear(r.pending)
	r.sendLocked(client, protocol.TypeAdmitted, protocol.Admitted{Peer: peerOf(m)})
	r.sendLocked(m, protocol.TypePeerJoined, peerOf(client))
	r.seatsChangedLocked()
	return nil
}

// endLocked ends the call for both: the client, waiting or in the call,
// gets ended and leaves the room (its admission and an away device's are
// gone; joining again means waiting again), then the therapist leaves as
// with hangup.
func (m *Member) endLocked() *protocol.Error {
	r := m.room
	switch {
	case m.role != protocol.RoleTherapist:
		return protocol.NewError(protocol.CodeNotTherapist, "only the therapist ends the call")
	case r.seats[m.role] != m:
		return protocol.NewError(protocol.CodeNotJoined, "end outside the room")
	}
	delete(r.away, protocol.RoleClient)
	if client := r.seats[protocol.RoleClient]; client != nil {
		client.admitted = false
		delete(r.seats, protocol.RoleClient)
		r.sendLocked(client, protocol.TypeEnded, protocol.Ended{By: protocol.EndedByTherapist})
	}
	clear(r.pending)
	delete(r.seats, m.role)
	r.seatsChangedLocked()
	return nil
}

// leaveLocked empties m's seat and tells the other person why. A seat's
// device that drops (reason gone) is away from then on; see join.
func (r *Room) leaveLocked(m *Member, reason string) {
	if reason == protocol.LeftGone {
		r.awayLocked(m)
	}
	if other := r.toldOfLocked(m); other != nil {
		r.sendLocked(other, protocol.TypePeerLeft, protocol.PeerLeft{Role: m.role, Reason: reason})
	}
	delete(r.seats, m.role)
	clear(r.pending)
	r.seatsChangedLocked()
}

// replaceLocked takes the seat from holder for a reconnect of the same role:
// holder gets perr (replaced, 4005, or reclaimed, 4007), the other person
// sees it go, and enterLocked seats the new connection in the same locked
// step.
func (r *Room) replaceLocked(holder *Member, perr *protocol.Error) {
	holder.gone = true
	delete(r.members, holder)
	if other := r.toldOfLocked(holder); other != nil {
		r.sendLocked(other, protocol.TypePeerLeft, protocol.PeerLeft{Role: holder.role, Reason: protocol.LeftGone})
	}
	delete(r.seats, holder.role)
	clear(r.pending)
	r.refuseLocked(holder, perr)
}

// seatsChangedLocked updates the state after the seats or the admission
// changed.
func (r *Room) seatsChangedLocked() {
	inCall := r.inCallLocked()
	was := r.inCall
	r.inCall = inCall
	r.state.Participants = len(r.seats)
	switch {
	case inCall:
		if r.state.StartedAt.IsZero() {
			r.state.StartedAt = r.cfg.Now()
		}
		r.state.EndedAt = time.Time{}
	case was:
		r.state.EndedAt = r.cfg.Now()
	}
	r.changed = true
}

// inCallLocked reports whether both people are in the call.
func (r *Room) inCallLocked() bool {
	t := r.seats[protocol.RoleTherapist]
	return t != nil && r.callPeerLocked(t) != nil
}

// refuseLocked queues the error message for perr and, for fatal errors, the
// close; a fatally refused connection leaves the room at once. A refusal
// (IsRefusal) is counted in the state.
func (r *Room) refuseLocked(m *Member, perr *protocol.Error) {
	if IsRefusal(perr.Code) {
		r.state.RefusedJoins++
		r.changed = true
	}
	r.sendLocked(m, protocol.TypeError, perr.Data())
	if perr.Fatal() {
		if !m.gone {
			m.gone = true
			delete(r.members, m)
			if r.seats[m.role] == m {
				r.leaveLocked(m, protocol.LeftGone)
			}
		}
		r.closeLocked(m, perr.CloseCode(), string(perr.Code))
	}
}

// sendLocked queues a message for m.
func (r *Room) sendLocked(m *Member, t protocol.Type, data any) {
	frame, err := protocol.Encode(t, data)
	if err != nil {
		// Only the room's own payload structs of strings, booleans and
		// four-digit-year times reach here, and they always encode.
		return
	}
	r.outbox = append(r.outbox, delivery{to: m.conn, frame: frame})
}

// closeLocked queues closing m's connection.
func (r *Room) closeLocked(m *Member, code int, reason string) {
	r.outbox = append(r.outbox, delivery{to: m.conn, close: code, reason: reason})
}

// flush delivers the queued frames and closes and then the state, if it
// changed, all in the order they were queued.
func (r *Room) flush() {
	r.sendMu.Lock()
	defer r.sendMu.Unlock()
	r.mu.Lock()
	out := r.outbox
	r.outbox = nil
	changed, st := r.changed, r.state
	r.changed = false
	r.mu.Unlock()
	for _, d := range out {
		if d.frame != nil {
			d.to.Send(d.frame)
		}
		if d.close != 0 {
			d.to.Close(d.close, d.reason)
		}
	}
	if changed && r.cfg.OnChange != nil {
		r.cfg.OnChange(st)
	}
}

// asError returns err as the *protocol.Error that protocol's decoders return.
func asError(err error) *protocol.Error {
	var perr *protocol.Error
	if errors.As(err, &perr) {
		return perr
	}
	return protocol.NewError(protocol.CodeBadMessage, "data of the wrong shape")
}

// newResume returns a fresh random resume value.
func newResume() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms.
	return base64.RawURLEncoding.EncodeToString(b)
}

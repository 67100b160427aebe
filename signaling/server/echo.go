package server

import (
	"sync"

	"github.com/pion/webrtc/v4"

	"github.com/sprechzimmer/sprechzimmer/signaling/protocol"
	"github.com/sprechzimmer/sprechzimmer/signaling/room"
)

// EchoPeer is the server side of a browser's connection test: a WebRTC peer
// that sends back the media it receives.
type EchoPeer interface {
	// Answer takes the browser's offer and returns the answer.
	Answer(offerSDP string) (string, error)
	// AddCandidate adds a browser's ICE candidate; an empty Candidate ends them.
	AddCandidate(webrtc.ICECandidateInit) error
	// Close ends the test and frees the peer.
	Close() error
}

// EchoFactory makes an echo peer using ice. onCandidate gets the peer's own
// ICE candidates as they are gathered (an empty Candidate ends them).
type EchoFactory func(ice []protocol.ICEServer, onCandidate func(webrtc.ICECandidateInit)) (EchoPeer, error)

// echoTest is one connection's connection test. Only the connection's reader
// goroutine calls handle and stop; the echo peer's candidate callback runs
// on pion's goroutines and takes mu.
type echoTest struct {
	c    *wsConn
	run  *echoRun
	slot bool
}

// echoRun is one test-offer's peer. Candidates gathered before the answer
// went out wait in pending, so the browser never gets a candidate before
// the answer.
type echoRun struct {
	c        *wsConn
	peer     EchoPeer
	mu       sync.Mutex
	answered bool
	stopped  bool
	pending  [][]byte
}

// handle runs test-offer, test-candidate and test-stop for a welcomed member.
func (t *echoTest) handle(m *room.Member, env *protocol.Envelope) {
	s := t.c.s
	switch env.Type {
	case protocol.TypeTestOffer:
		offer, err := protocol.DecodeData[protocol.SDP](env)
		if err != nil || offer.SDP == "" {
			s.answered(t.c, m.Refuse(protocol.NewError(protocol.CodeBadMessage, "test-offer without sdp")))
			return
		}
		t.stop()
		if perr := t.start(offer.SDP); perr != nil {
			s.answered(t.c, m.Refuse(perr))
		}
	case protocol.TypeTestCandidate:
		cand, err := protocol.DecodeData[protocol.Candidate](env)
		if err != nil {
			s.answered(t.c, m.Refuse(protocol.NewError(protocol.CodeBadMessage, "test-candidate of the wrong shape")))
			return
		}
		if t.run == nil {
			return // a late candidate of a test that has ended
		}
		init := webrtc.ICECandidateInit{SDPMid: cand.SDPMid, SDPMLineIndex: cand.SDPMLineIndex, UsernameFragment: cand.UsernameFragment}
		if cand.Candidate != nil {
			init.Candidate = *cand.Candidate
		}
		if err := t.run.peer.AddCandidate(init); err != nil {
			s.log.Debug("test candidate not added", "conn", t.c.id)
		}
	case protocol.TypeTestStop:
		t.stop()
	}
}

// start makes an echo peer for offer and sends its answer.
func (t *echoTest) start(offer string) *protocol.Error {
	s := t.c.s
	unavailable := protocol.NewError(protocol.CodeTestUnavailable, "the connection test cannot run now")
	if s.opts.Echo == nil {
		return unavailable
	}
	select {
	case s.echoes <- struct{}{}:
		t.slot = true
	default:
		return unavailable
	}
	run := &echoRun{c: t.c}
	peer, err := s.opts.Echo(s.opts.Config.ICEServers, run.candidate)
	if err != nil {
		s.log.Info("echo peer not created", "conn", t.c.id, "error", "factory failed")
		t.release()
		return unavailable
	}
	run.peer = peer
	t.run = run
	answer, err := peer.Answer(offer)
	if err != nil {
		t.stop()
		return protocol.NewError(protocol.CodeTestUnavailable, "the echo peer could not answer the offer")
	}
	frame, err := protocol.Encode(protocol.TypeTestAnswer, protocol.SDP{SDP: answer})
	if err != nil {
		t.stop()
		return unavailable
	}
	t.c.Send(frame)
	run.mu.Lock()
	run.answered = true
	pending := run.pending
	run.pending = nil
	run.mu.Unlock()
	for _, f := range pending {
		t.c.Send(f)
	}
	return nil
}

// candidate sends one of the echo peer's candidates to the browser.
func (r *echoRun) candidate(init webrtc.ICECandidateInit) {
	c := protocol.Candidate{SDPMid: init.SDPMid, SDPMLineIndex: init.SDPMLineIndex, UsernameFragment: init.UsernameFragment}
	if init.Candidate != "" {
		c.Candidate = &init.Candidate
	}
	frame, err := protocol.Encode(protocol.TypeTestCandidate, c)
	if err != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.stopped:
	case !r.answered:
		r.pending = append(r.pending, frame)
	default:
		// Send only queues; it never blocks.
		r.c.Send(frame)
	}
}

// stop ends the running test, if any.
func (t *echoTest) stop() {
	if t.run != nil {
		t.run.mu.Lock()
		t.run.stopped = true
		t.run.mu.Unlock()
		if err := t.run.peer.Close(); err != nil {
			t.c.s.log.Debug("echo peer close failed", "conn", t.c.id)
		}
		t.run = nil
	}
	t.release()
}

// release gives back the echo slot.
func (t *echoTest) release() {
	if t.slot {
		<-t.c.s.echoes
		t.slot = false
	}
}

package server

import (
	"testing"

	"github.com/sprechzimmer/sprechzimmer/signaling/config"
	"github.com/sprechzimmer/sprechzimmer/signaling/protocol"
	"github.com/sprechzimmer/sprechzimmer/signaling/room"
)

// withTherapistAdmission runs the room as a session does by default: the
// client waits until the therapist admits them.
func withTherapistAdmission(_ *config.Config, rc *room.Config, _ *Options) {
	rc.AutomaticAdmission = false
}

// joinWithCheck is the client's join with its test summary.
const joinWithCheck = `{"name":"` + clientName + `","check":{"camera":"ok","microphone":"refused","connection":"ok"},` +
	`"consent":{"termsAccepted":true,"processingAccepted":true,"termsVersion":"` + terms + `"}}`

// barrier proves that c has received nothing else so far: it sends an
// offer, which the server refuses, and the refusal must be the next
// message. Everything the room queued for c before handling that offer
// arrives before the refusal (one writer per connection, in order).
func barrier(c *client, code protocol.Code) {
	c.t.Helper()
	c.send(protocol.TypeOffer, `{"sdp":"v=0"}`)
	c.expectError(code)
}

func TestClientWaitsUntilTheTherapistAdmits(t *testing.T) {
	tests := []struct {
		name           string
		therapistFirst bool
	}{
		{"therapist already there", true},
		{"client first", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, withTherapistAdmission)
			var therapist, cl *client
			var cj protocol.Joined
			enterClient := func() {
				cl = h.dial()
				cl.hello(protocol.RoleClient)
				cl.send(protocol.TypeJoin, joinWithCheck)
				cj = expect[protocol.Joined](cl, protocol.TypeJoined)
			}
			if tt.therapistFirst {
				therapist, _ = h.enter(protocol.RoleTherapist)
				enterClient()
			} else {
				enterClient()
				var tj protocol.Joined
				therapist, tj = h.enter(protocol.RoleTherapist)
				if tj.Peer != nil {
					t.Fatalf("the therapist's joined names a peer before admission: %+v", tj.Peer)
				}
			}
			if !cj.Waiting || cj.Peer != nil {
				t.Fatalf("client joined %+v, want waiting without a peer", cj)
			}
			w := expect[protocol.ClientWaiting](therapist, protocol.TypeClientWaiting)
			wantCheck := protocol.Check{Camera: protocol.CheckOK, Microphone: protocol.CheckRefused, Connection: protocol.CheckOK}
			if w.Name != clientName || w.Check == nil || *w.Check != wantCheck {
				t.Fatalf("client-waiting %+v, want the name and the check", w)
			}

			// Nothing of the therapist reaches the waiting client: no
			// offer, no candidate, not the therapist's leaving and return.
			barrier(therapist, protocol.CodeNoPeer)
			therapist.send(protocol.TypeCandidate, `{"candidate":"candidate:1 1 udp 1 192.0.2.77 5000 typ host","sdpMid":"0","sdpMLineIndex":0}`)
			therapist.expectError(protocol.CodeNoPeer)
			therapist.send(protocol.TypeHangup, `{}`)
			therapist.join(protocol.RoleTherapist, "")
			expect[protocol.ClientWaiting](therapist, protocol.TypeClientWaiting)
			barrier(cl, protocol.CodeNoPeer)
			if st := h.room.State(); !st.StartedAt.IsZero() || st.Participants != 2 {
				t.Fatalf("before admission: %+v, want two in the room and no call started", st)
			}

			therapist.send(protocol.TypeAdmit, `{}`)
			a := expect[protocol.Admitted](cl, protocol.TypeAdmitted)
			if a.Peer == nil || *a.Peer != (protocol.Peer{Role: protocol.RoleTherapist, Name: therapistName}) {
				t.Fatalf("admitted %+v, want the therapist as peer", a)
			}
			if p := expect[protocol.Peer](therapist, protocol.TypePeerJoined); p.Name != clientName {
				t.Fatalf("peer-joined %+v", p)
			}
			negotiate(therapist, cl)
			negotiate(cl, therapist)
			if st := h.room.State(); st.StartedAt.IsZero() {
				t.Fatalf("after admission: %+v, want the call started", st)
			}
			therapist.send(protocol.TypeAdmit, `{}`)
			therapist.expectError(protocol.CodeNotWaiting)
		})
	}
}

func TestAutomaticAdmissionLetsTheClientInAtOnce(t *testing.T) {
	h := newHarness(t, func(_ *config.Config, rc *room.Config, _ *Options) { rc.AutomaticAdmission = true })
	therapist, _ := h.enter(protocol.RoleTherapist)
	cl, cj := h.enter(protocol.RoleClient)
	if cj.Waiting || cj.Peer == nil || cj.Peer.Role != protocol.RoleTherapist {
		t.Fatalf("client joined %+v, want in the call with the therapist", cj)
	}
	expect[protocol.Peer](therapist, protocol.TypePeerJoined)
	negotiate(therapist, cl)
}

func TestAdmissionFromTheRoomsConfiguration(t *testing.T) {
	tests := []struct {
		admission   config.Admission
		wantWaiting bool
	}{
		{config.AdmissionTherapist, true},
		{config.AdmissionAutomatic, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.admission), func(t *testing.T) {
			h := newHarness(t, func(c *config.Config, rc *room.Config, _ *Options) {
				c.Admission = tt.admission
				rc.AutomaticAdmission = room.FromConfig(c).AutomaticAdmission
			})
			if _, cj := h.enter(protocol.RoleClient); cj.Waiting != tt.wantWaiting {
				t.Fatalf("joined.waiting = %v, want %v", cj.Waiting, tt.wantWaiting)
			}
		})
	}
}

func TestTherapistEndsTheCallForBoth(t *testing.T) {
	h := newHarness(t, withTherapistAdmission)
	therapist, _ := h.enter(protocol.RoleTherapist)
	cl, _ := h.enter(protocol.RoleClient)
	expect[protocol.ClientWaiting](therapist, protocol.TypeClientWaiting)
	therapist.send(protocol.TypeAdmit, `{}`)
	expect[protocol.Admitted](cl, protocol.TypeAdmitted)
	expect[protocol.Peer](therapist, protocol.TypePeerJoined)
	negotiate(therapist, cl)

	therapist.send(protocol.TypeEnd, `{}`)
	if e := expect[protocol.Ended](cl, protocol.TypeEnded); e.By != protocol.EndedByTherapist {
		t.Fatalf("ended %+v", e)
	}
	barrier(cl, protocol.CodeNotJoined)
	barrier(therapist, protocol.CodeNotJoined)
	if st := h.room.State(); st.Participants != 0 || st.EndedAt.IsZero() {
		t.Fatalf("after end: %+v, want nobody in the room and the call ended", st)
	}

	// Both connections stay; the client who enters again waits again.
	therapist.join(protocol.RoleTherapist, "")
	if cj := cl.join(protocol.RoleClient, ""); !cj.Waiting {
		t.Fatalf("the client entered again without admission: %+v", cj)
	}
	expect[protocol.ClientWaiting](therapist, protocol.TypeClientWaiting)
}

func TestLinkInUseIsSaidAtHelloAndTakeoverHandsTheSeatOn(t *testing.T) {
	h := newHarness(t, withTherapistAdmission)
	therapist, _ := h.enter(protocol.RoleTherapist)
	first := h.dial()
	if w := first.hello(protocol.RoleClient); w.SeatInUse {
		t.Fatal("welcome says the seat is in use before anyone holds it")
	}
	fj := first.join(protocol.RoleClient, "")
	expect[protocol.ClientWaiting](therapist, protocol.TypeClientWaiting)
	therapist.send(protocol.TypeAdmit, `{}`)
	expect[protocol.Admitted](first, protocol.TypeAdmitted)
	expect[protocol.Peer](therapist, protocol.TypePeerJoined)

	// A reload of the admitted tab (its resume) stays in the call.
	first.ws.CloseNow() //nolint:errcheck // the tab goes away
	reload := h.dial()
	reload.hello(protocol.RoleClient)
	if rj := reload.join(protocol.RoleClient, fj.Resume); rj.Waiting || rj.Peer == nil {
		t.Fatalf("a reload of the admitted tab: %+v, want in the call", rj)
	}
	expect[protocol.PeerLeft](therapist, protocol.TypePeerLeft)
	expect[protocol.Peer](therapist, protocol.TypePeerJoined)

	// A second window is told at once, before any consent.
	second := h.dial()
	if w := second.hello(protocol.RoleClient); !w.SeatInUse {
		t.Fatal("welcome does not say that the link is in use in another window")
	}
	// Without takeover a live holder keeps the seat.
	second.send(protocol.TypeJoin, joinData(protocol.RoleClient, ""))
	second.expectError(protocol.CodeRoomFull)
	second.expectClosed(protocol.CloseRoomFull)

	third := h.dial()
	third.hello(protocol.RoleClient)
	third.send(protocol.TypeJoin, `{"takeover":true,"consent":{"termsAccepted":true,"processingAccepted":true,"termsVersion":"`+terms+`"}}`)
	tj := expect[protocol.Joined](third, protocol.TypeJoined)
	reload.expectError(protocol.CodeReplaced)
	reload.expectClosed(protocol.CloseReplaced)
	// The window that took over waits for the therapist again: a link
	// opened elsewhere never carries the admission along.
	if !tj.Waiting || tj.Peer != nil {
		t.Fatalf("takeover joined %+v, want waiting", tj)
	}
	if l := expect[protocol.PeerLeft](therapist, protocol.TypePeerLeft); l.Role != protocol.RoleClient {
		t.Fatalf("peer-left %+v", l)
	}
	expect[protocol.ClientWaiting](therapist, protocol.TypeClientWaiting)
	barrier(third, protocol.CodeNoPeer)
}

package room

import (
	"testing"
	"time"

	"github.com/sprechzimmer/sprechzimmer/internal/jointoken"
	"github.com/sprechzimmer/sprechzimmer/signaling/protocol"
)

// newAdmissionRoom is a room where the therapist admits the client.
func newAdmissionRoom(t *testing.T) *Room {
	t.Helper()
	clk := &clock{now: start}
	return New(Config{
		Therapist: jointoken.Of(therapistToken), Client: jointoken.Of(clientToken),
		ExpiresAt: start.Add(time.Hour), TermsVersion: terms, Language: "de",
		ProbeTimeout: 20 * time.Millisecond, Now: clk.Now,
	})
}

// TestAdmissionStaysWithTheDevice: an admitted client who comes back on the
// same device (a reload with its resume, or after its connection dropped)
// is still in the call; anyone else who enters with the link waits for the
// therapist again.
func TestAdmissionStaysWithTheDevice(t *testing.T) {
	tests := []struct {
		name        string
		comeBack    func(t *testing.T, r *Room, old *Member, oldConn *conn, resume string) protocol.Joined
		wantWaiting bool
	}{
		{"reload with its resume", func(t *testing.T, r *Room, _ *Member, _ *conn, resume string) protocol.Joined {
			_, _, j := enter(t, r, protocol.RoleClient, `"resume":"`+resume+`"`)
			return j
		}, false},
		{"back after its connection dropped", func(t *testing.T, r *Room, old *Member, _ *conn, resume string) protocol.Joined {
			old.Disconnect()
			_, _, j := enter(t, r, protocol.RoleClient, `"resume":"`+resume+`"`)
			return j
		}, false},
		{"another device while it is away", func(t *testing.T, r *Room, old *Member, _ *conn, _ string) protocol.Joined {
			old.Disconnect()
			_, _, j := enter(t, r, protocol.RoleClient, ``)
			return j
		}, true},
		{"after hanging up", func(t *testing.T, _ *Room, old *Member, oldConn *conn, _ string) protocol.Joined {
			if err := old.Receive(msg(protocol.TypeHangup, `{}`)); err != nil {
				t.Fatal(err)
			}
			if err := old.Receive(msg(protocol.TypeJoin, `{`+consent+`}`)); err != nil {
				t.Fatal(err)
			}
			return expect[protocol.Joined](t, oldConn, protocol.TypeJoined)
		}, true},
		{"another window taking over", func(t *testing.T, r *Room, _ *Member, _ *conn, _ string) protocol.Joined {
			_, _, j := enter(t, r, protocol.RoleClient, `"takeover":true`)
			return j
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newAdmissionRoom(t)
			tc, tm, _ := enter(t, r, protocol.RoleTherapist, ``)
			cc, cm, cj := enter(t, r, protocol.RoleClient, ``)
			if !cj.Waiting {
				t.Fatalf("client joined %+v, want waiting", cj)
			}
			expect[protocol.ClientWaiting](t, tc, protocol.TypeClientWaiting)
			if err := tm.Receive(msg(protocol.TypeAdmit, `{}`)); err != nil {
				t.Fatal(err)
			}
			expect[protocol.Admitted](t, cc, protocol.TypeAdmitted)
			expect[protocol.Peer](t, tc, protocol.TypePeerJoined)

			j := tt.comeBack(t, r, cm, cc, cj.Resume)
			if j.Waiting != tt.wantWaiting || (j.Peer == nil) != tt.wantWaiting {
				t.Fatalf("joined %+v, want waiting %v", j, tt.wantWaiting)
			}
		})
	}
}

package room

import (
	"testing"

	"github.com/sprechzimmer/sprechzimmer/signaling/protocol"
)

func TestDropIfWaiting(t *testing.T) {
	tests := []struct {
		name        string
		hello       bool
		wantDropped bool
	}{
		{"waiting for hello: dropped, a later hello ignored", false, true},
		{"welcomed: kept", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := newRoom(t, nil)
			c := newConn()
			m := r.Connect(c)
			if tt.hello {
				if err := m.Receive(hello(therapistToken)); err != nil {
					t.Fatal(err)
				}
				expect[protocol.Welcome](t, c, protocol.TypeWelcome)
			}
			if got := m.DropIfWaiting(); got != tt.wantDropped {
				t.Fatalf("DropIfWaiting() = %v, want %v", got, tt.wantDropped)
			}
			if !tt.wantDropped {
				if role, ok := m.Role(); !ok || role != protocol.RoleTherapist {
					t.Fatalf("role %q %v after keeping", role, ok)
				}
				return
			}
			if err := m.Receive(hello(therapistToken)); err != nil {
				t.Fatal(err)
			}
			c.none(t)
			if _, ok := m.Role(); ok {
				t.Fatal("a dropped connection was welcomed")
			}
			m.Disconnect() // the reader's end afterwards changes nothing
			if st := r.State(); st.Participants != 0 || st.RefusedJoins != 0 {
				t.Fatalf("state %+v", st)
			}
		})
	}
}

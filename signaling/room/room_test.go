package room

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sprechzimmer/sprechzimmer/internal/jointoken"
	"github.com/sprechzimmer/sprechzimmer/signaling/protocol"
)

// conn is a Conn that keeps what the room sends. A dead conn never answers
// the liveness probe.
type conn struct {
	frames chan *protocol.Envelope
	closed chan int
	dead   bool
}

func newConn() *conn {
	return &conn{frames: make(chan *protocol.Envelope, 64), closed: make(chan int, 1)}
}

func (c *conn) Send(frame []byte) {
	env, err := protocol.DecodeServer(frame)
	if err != nil {
		panic(fmt.Sprintf("room sent a bad frame: %v", err))
	}
	c.frames <- env
}

func (c *conn) Close(code int, _ string) { c.closed <- code }

func (c *conn) Probe(ctx context.Context) error {
	if c.dead {
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

// next returns the next message, failing the test if there is none.
func (c *conn) next(t *testing.T) *protocol.Envelope {
	t.Helper()
	select {
	case env := <-c.frames:
		return env
	default:
		t.Fatal("no message")
		return nil
	}
}

// expect returns the data of the next message, which must be of type typ.
func expect[T any](t *testing.T, c *conn, typ protocol.Type) T {
	t.Helper()
	env := c.next(t)
	if env.Type != typ {
		t.Fatalf("got %s %s, want %s", env.Type, env.Data, typ)
	}
	v, err := protocol.DecodeData[T](env)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (c *conn) none(t *testing.T) {
	t.Helper()
	select {
	case env := <-c.frames:
		t.Fatalf("unexpected %s %s", env.Type, env.Data)
	default:
	}
}

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

const (
	therapistToken = "therapist-token-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	clientToken    = "client-token-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	terms          = "2026-11"
)

var start = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func newRoom(t *testing.T, onChange func(State)) (*Room, *clock) {
	t.Helper()
	clk := &clock{now: start}
	return New(Config{
		Therapist: jointoken.Of(therapistToken), Client: jointoken.Of(clientToken),
		ExpiresAt: start.Add(time.Hour), TermsVersion: terms, Language: "de",
		ProbeTimeout: 20 * time.Millisecond, Now: clk.Now, OnChange: onChange,
		// These tests of seats and relay run without the admission step
		// (admission_test.go has it).
		AutomaticAdmission: true,
	}), clk
}

func msg(t protocol.Type, data string) *protocol.Envelope {
	return &protocol.Envelope{Type: t, Data: json.RawMessage(data)}
}

func hello(token string) *protocol.Envelope {
	return msg(protocol.TypeHello, `{"version":2,"token":"`+token+`"}`)
}

const consent = `"consent":{"termsAccepted":true,"processingAccepted":true,"termsVersion":"` + terms + `"}`

// enter connects, says hello and joins; it returns the conn and member and
// the joined data.
func enter(t *testing.T, r *Room, role protocol.Role, extra string) (*conn, *Member, protocol.Joined) {
	t.Helper()
	c := newConn()
	m := r.Connect(c)
	token, data := therapistToken, `{`+extra+`}`
	if role == protocol.RoleClient {
		token = clientToken
		data = `{` + consent
		if extra != "" {
			data += "," + extra
		}
		data += `}`
	}
	if err := m.Receive(hello(token)); err != nil {
		t.Fatal(err)
	}
	if w := expect[protocol.Welcome](t, c, protocol.TypeWelcome); w.Role != role {
		t.Fatalf("role %s, want %s", w.Role, role)
	}
	if err := m.Receive(msg(protocol.TypeJoin, data)); err != nil {
		t.Fatalf("join: %v", err)
	}
	return c, m, expect[protocol.Joined](t, c, protocol.TypeJoined)
}

func TestCallStateAcrossHangupReconnectAndExpiry(t *testing.T) {
	var states []State
	r, clk := newRoom(t, func(s State) { states = append(states, s) })

	tc, _, tj := enter(t, r, protocol.RoleTherapist, `"name":"Dr. A"`)
	if tj.Polite || tj.Peer != nil {
		t.Fatalf("therapist joined %+v", tj)
	}
	clk.add(time.Minute)
	cc, cm, cj := enter(t, r, protocol.RoleClient, `"name":"  B\u0007\u202e "`)
	if !cj.Polite || cj.Peer == nil || *cj.Peer != (protocol.Peer{Role: protocol.RoleTherapist, Name: "Dr. A"}) {
		t.Fatalf("client joined %+v", cj)
	}
	if p := expect[protocol.Peer](t, tc, protocol.TypePeerJoined); p != (protocol.Peer{Role: protocol.RoleClient, Name: "B"}) {
		t.Fatalf("peer-joined %+v", p)
	}
	started := start.Add(time.Minute)
	if s := r.State(); s.Participants != 2 || !s.StartedAt.Equal(started) || !s.EndedAt.IsZero() {
		t.Fatalf("both in: %+v", s)
	}

	// The client reloads: the new tab resumes and replaces the old one at once.
	clk.add(time.Minute)
	cc2, cm2, _ := enter(t, r, protocol.RoleClient, `"resume":"`+cj.Resume+`"`)
	if e := expect[protocol.ErrorData](t, cc, protocol.TypeError); e.Code != protocol.CodeReplaced {
		t.Fatalf("old tab got %s", e.Code)
	}
	if code := <-cc.closed; code != protocol.CloseReplaced {
		t.Fatalf("old tab closed %d", code)
	}
	expect[protocol.PeerLeft](t, tc, protocol.TypePeerLeft)
	expect[protocol.Peer](t, tc, protocol.TypePeerJoined)
	cm.Disconnect() // the old socket ending later changes nothing
	tc.none(t)
	if s := r.State(); s.Participants != 2 || !s.EndedAt.IsZero() {
		t.Fatalf("after replace: %+v", s)
	}

	// Hangup ends the call; being both present again clears endedAt.
	clk.add(time.Minute)
	if err := cm2.Receive(msg(protocol.TypeHangup, `{}`)); err != nil {
		t.Fatal(err)
	}
	if l := expect[protocol.PeerLeft](t, tc, protocol.TypePeerLeft); l.Reason != protocol.LeftHangup {
		t.Fatalf("peer-left %+v", l)
	}
	if s := r.State(); s.Participants != 1 || !s.EndedAt.Equal(start.Add(3*time.Minute)) {
		t.Fatalf("after hangup: %+v", s)
	}
	if err := cm2.Receive(msg(protocol.TypeJoin, `{`+consent+`}`)); err != nil {
		t.Fatal(err)
	}
	expect[protocol.Joined](t, cc2, protocol.TypeJoined)
	expect[protocol.Peer](t, tc, protocol.TypePeerJoined)
	if s := r.State(); s.Participants != 2 || !s.StartedAt.Equal(started) || !s.EndedAt.IsZero() {
		t.Fatalf("back: %+v", s)
	}

	clk.add(time.Minute)
	r.Expire()
	for _, c := range []*conn{tc, cc2} {
		if rc := expect[protocol.RoomClosed](t, c, protocol.TypeRoomClosed); rc.Reason != protocol.ClosedExpired {
			t.Fatalf("room-closed %+v", rc)
		}
		if code := <-c.closed; code != protocol.CloseRoomClosed {
			t.Fatalf("closed %d", code)
		}
	}
	want := State{Participants: 0, StartedAt: started, EndedAt: start.Add(4 * time.Minute)}
	if s := r.State(); s != want {
		t.Fatalf("after expiry: %+v, want %+v", s, want)
	}
	var seq []int
	for _, s := range states {
		seq = append(seq, s.Participants)
	}
	if fmt.Sprint(seq) != "[1 2 2 1 2 0]" {
		t.Fatalf("participants reported %v", seq)
	}
	if states[len(states)-1] != want {
		t.Fatalf("last reported %+v", states[len(states)-1])
	}
}

func TestDeadHolderIsReplacedLiveHolderIsNot(t *testing.T) {
	r, _ := newRoom(t, nil)
	holder, _, _ := enter(t, r, protocol.RoleTherapist, "")

	second := newConn()
	m := r.Connect(second)
	if err := m.Receive(hello(therapistToken)); err != nil {
		t.Fatalf("hello: %v", err)
	}
	expect[protocol.Welcome](t, second, protocol.TypeWelcome)
	err := m.Receive(msg(protocol.TypeJoin, `{}`))
	if e := expect[protocol.ErrorData](t, second, protocol.TypeError); e.Code != protocol.CodeRoomFull || err == nil {
		t.Fatalf("live holder: %s, %v", e.Code, err)
	}
	if code := <-second.closed; code != protocol.CloseRoomFull {
		t.Fatalf("closed %d", code)
	}
	if r.State().RefusedJoins != 1 {
		t.Fatalf("refused %d", r.State().RefusedJoins)
	}

	holder.dead = true
	_, _, _ = enter(t, r, protocol.RoleTherapist, "")
	if e := expect[protocol.ErrorData](t, holder, protocol.TypeError); e.Code != protocol.CodeReplaced {
		t.Fatalf("dead holder got %s", e.Code)
	}
}

func TestConcurrentJoinsSeatOnePerRole(t *testing.T) {
	r, _ := newRoom(t, nil)
	const n = 50
	var wg sync.WaitGroup
	conns := make([]*conn, n)
	for i := range n {
		conns[i] = newConn()
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := r.Connect(conns[i])
			token, data := therapistToken, `{}`
			if i%2 == 1 {
				token, data = clientToken, `{`+consent+`}`
			}
			if err := m.Receive(hello(token)); err != nil {
				t.Errorf("hello: %v", err)
				return
			}
			// All but one per role are refused: the frames sent tell who joined.
			_ = m.Receive(msg(protocol.TypeJoin, data))
		}()
	}
	wg.Wait()
	joined := map[protocol.Role]int{}
	for i, c := range conns {
		role := protocol.RoleTherapist
		if i%2 == 1 {
			role = protocol.RoleClient
		}
		close(c.frames)
		for env := range c.frames {
			if env.Type == protocol.TypeJoined {
				joined[role]++
			}
		}
	}
	if joined[protocol.RoleTherapist] != 1 || joined[protocol.RoleClient] != 1 {
		t.Fatalf("joined per role %v", joined)
	}
	if s := r.State(); s.Participants != 2 || s.RefusedJoins != n-2 {
		t.Fatalf("state %+v", s)
	}
}

// TestRestoreKeepsTimesFromBefore: a restarted room merges what the status
// held; the call's times never go backwards.
func TestRestoreKeepsTimesFromBefore(t *testing.T) {
	earlier := start.Add(-time.Hour)
	ended := start.Add(-10 * time.Minute)
	tests := []struct {
		name string
		// inCall: both are in this process's room before Restore.
		inCall bool
		stored State
		want   State
	}{
		{"no call before", false, State{}, State{}},
		{"call ended before", false, State{StartedAt: earlier, EndedAt: ended, RefusedJoins: 2},
			State{StartedAt: earlier, EndedAt: ended, RefusedJoins: 2}},
		{"call running when the old room died: it ended now", false, State{StartedAt: earlier, RefusedJoins: 1},
			State{StartedAt: earlier, EndedAt: start, RefusedJoins: 1}},
		{"both back before the stored status was read", true, State{StartedAt: earlier, EndedAt: ended},
			State{Participants: 2, StartedAt: earlier}},
		{"first call in this room", true, State{},
			State{Participants: 2, StartedAt: start}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var last State
			r, _ := newRoom(t, func(s State) { last = s })
			if tt.inCall {
				enter(t, r, protocol.RoleTherapist, "")
				enter(t, r, protocol.RoleClient, "")
			}
			r.Restore(tt.stored)
			got := r.State()
			if got.Participants != tt.want.Participants || !got.StartedAt.Equal(tt.want.StartedAt) ||
				!got.EndedAt.Equal(tt.want.EndedAt) || got.RefusedJoins != tt.want.RefusedJoins {
				t.Fatalf("after Restore %+v, want %+v", got, tt.want)
			}
			if last != got {
				t.Fatalf("reported %+v, want the merged %+v", last, got)
			}
		})
	}
}

// join connects, says hello and sends join with data; it returns the conn
// after welcome and what Receive returned for the join.
func join(t *testing.T, r *Room, token, data string) (*conn, *Member, error) {
	t.Helper()
	c := newConn()
	m := r.Connect(c)
	if err := m.Receive(hello(token)); err != nil {
		t.Fatal(err)
	}
	expect[protocol.Welcome](t, c, protocol.TypeWelcome)
	return c, m, m.Receive(msg(protocol.TypeJoin, data))
}

// TestSeatBelongsToItsDevice: the client's device A loses its seat, device
// B enters with the client link while A is away (the therapist is told),
// and A comes back with its resume.
func TestSeatBelongsToItsDevice(t *testing.T) {
	tests := []struct {
		name string
		// lose is how A leaves its seat: "drop", "probe" (B's join finds A
		// dead) or "hangup".
		lose string
		// after is the time from A losing its seat to A's resume.
		after time.Duration
		// other is whether the therapist is told B is another device.
		other bool
		// want is A's answer: "" for joined (B is reclaimed), else the
		// error code.
		want protocol.Code
	}{
		{name: "dropped, back within the grace period", lose: "drop", after: time.Minute, other: true},
		{name: "failed the probe, back within the grace period", lose: "probe", after: DefaultResumeGrace - time.Second, other: true},
		{name: "dropped, back after the grace period", lose: "drop", after: DefaultResumeGrace, other: true, want: protocol.CodeSeatTaken},
		{name: "hung up: B is an ordinary join, A's resume a third person", lose: "hangup", after: time.Minute, want: protocol.CodeRoomFull},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, clk := newRoom(t, nil)
			tc, tm, _ := enter(t, r, protocol.RoleTherapist, "")
			ac, am, aj := enter(t, r, protocol.RoleClient, `"name":"A"`)
			expect[protocol.Peer](t, tc, protocol.TypePeerJoined)

			switch tt.lose {
			case "drop":
				am.Disconnect()
				expect[protocol.PeerLeft](t, tc, protocol.TypePeerLeft)
			case "hangup":
				if err := am.Receive(msg(protocol.TypeHangup, `{}`)); err != nil {
					t.Fatal(err)
				}
				expect[protocol.PeerLeft](t, tc, protocol.TypePeerLeft)
			case "probe":
				ac.dead = true
			}
			bc, _, bj := enter(t, r, protocol.RoleClient, `"name":"B"`)
			if tt.lose == "probe" {
				if e := expect[protocol.ErrorData](t, ac, protocol.TypeError); e.Code != protocol.CodeReplaced {
					t.Fatalf("dead A got %s", e.Code)
				}
				expect[protocol.PeerLeft](t, tc, protocol.TypePeerLeft)
			}
			want := protocol.Peer{Role: protocol.RoleClient, Name: "B", OtherDevice: tt.other}
			if p := expect[protocol.Peer](t, tc, protocol.TypePeerJoined); p != want {
				t.Fatalf("therapist told %+v, want %+v", p, want)
			}
			// B's own reconnect (its resume) stays marked, and so does B in
			// the joined of a therapist who enters again.
			bc2, bm2, _ := enter(t, r, protocol.RoleClient, `"name":"B","resume":"`+bj.Resume+`"`)
			expect[protocol.ErrorData](t, bc, protocol.TypeError)
			expect[protocol.PeerLeft](t, tc, protocol.TypePeerLeft)
			if p := expect[protocol.Peer](t, tc, protocol.TypePeerJoined); p != want {
				t.Fatalf("B's reconnect: therapist told %+v, want %+v", p, want)
			}
			for _, m := range []*protocol.Envelope{msg(protocol.TypeHangup, `{}`), msg(protocol.TypeJoin, `{}`)} {
				if err := tm.Receive(m); err != nil {
					t.Fatal(err)
				}
			}
			if j := expect[protocol.Joined](t, tc, protocol.TypeJoined); j.Peer == nil || *j.Peer != want {
				t.Fatalf("therapist joined %+v, want peer %+v", j, want)
			}
			expect[protocol.PeerLeft](t, bc2, protocol.TypePeerLeft)
			expect[protocol.Peer](t, bc2, protocol.TypePeerJoined)

			clk.add(tt.after)
			a2, am2, err := join(t, r, clientToken, `{`+consent+`,"name":"A","resume":"`+aj.Resume+`"}`)
			if tt.want != "" {
				if e := expect[protocol.ErrorData](t, a2, protocol.TypeError); e.Code != tt.want || err == nil {
					t.Fatalf("A got %s (%v), want %s", e.Code, err, tt.want)
				}
				bc2.none(t)
				if tt.want != protocol.CodeSeatTaken {
					return
				}
				// seat-taken is not final: A's connection stays, and A
				// enters once B has left.
				select {
				case code := <-a2.closed:
					t.Fatalf("seat-taken closed A with %d", code)
				default:
				}
				if err := bm2.Receive(msg(protocol.TypeHangup, `{}`)); err != nil {
					t.Fatal(err)
				}
				if err := am2.Receive(msg(protocol.TypeJoin, `{`+consent+`,"name":"A","resume":"`+aj.Resume+`"}`)); err != nil {
					t.Fatalf("A again: %v", err)
				}
			} else {
				if err != nil {
					t.Fatalf("A's resume: %v", err)
				}
				if e := expect[protocol.ErrorData](t, bc2, protocol.TypeError); e.Code != protocol.CodeReclaimed {
					t.Fatalf("B got %s", e.Code)
				}
				if code := <-bc2.closed; code != protocol.CloseReclaimed {
					t.Fatalf("B closed with %d", code)
				}
			}
			expect[protocol.Joined](t, a2, protocol.TypeJoined)
		})
	}
}

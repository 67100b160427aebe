package server

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sprechzimmer/sprechzimmer/internal/jointoken"
	"github.com/sprechzimmer/sprechzimmer/internal/testlog"
	"github.com/sprechzimmer/sprechzimmer/signaling/config"
	"github.com/sprechzimmer/sprechzimmer/signaling/metrics"
	"github.com/sprechzimmer/sprechzimmer/signaling/protocol"
	"github.com/sprechzimmer/sprechzimmer/signaling/room"
)

const (
	therapistToken = "T0k3n-therapist-Zq8mN1xV4bR7cY2wE5tU9iO3pA6sD0fG"
	clientToken    = "T0k3n-client-Lk2jH5gF8dS1aQ4wE7rT0yU3iO6pZ9xCvB"
	terms          = "2026-11"
	therapistName  = "Dr. Hannah Beispielname"
	clientName     = "Jonas Vertraulich"
	secretSDP      = "v=0 o=- 4611731400430051336 2 IN IP4 192.0.2.77"
)

// wait bounds every wait for a message in these tests.
const wait = 5 * time.Second

// clock is a settable clock for the room and the rate limiter.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *clock) add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// harness is a signaling server for one room on an httptest server.
type harness struct {
	t       testing.TB
	srv     *httptest.Server
	server  *Server
	room    *room.Room
	clock   *clock
	logs    *testlog.Buffer
	metrics *metrics.Metrics
	cfg     *config.Config
	states  chan room.State
}

// awaitParticipants waits until the room reports n people in it.
func (h *harness) awaitParticipants(n int) {
	h.t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case st := <-h.states:
			if st.Participants == n {
				return
			}
		case <-deadline:
			h.t.Fatalf("the room never had %d people", n)
		}
	}
}

// setup changes the options before the server starts.
type setup func(*config.Config, *room.Config, *Options)

func newHarness(t testing.TB, setups ...setup) *harness {
	t.Helper()
	return newTunedHarness(t, nil, setups...)
}

// newTunedHarness is newHarness with tune applied to the HTTP server
// before it starts.
func newTunedHarness(t testing.TB, tune func(*http.Server), setups ...setup) *harness {
	t.Helper()
	clk := &clock{now: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
	cfg := &config.Config{
		TherapistToken: jointoken.Of(therapistToken),
		ClientToken:    jointoken.Of(clientToken),
		ExpiresAt:      clk.Now().Add(time.Hour),
		ICEServers:     []protocol.ICEServer{{URLs: []string{"turn:turn.example:3478"}, Username: "u", Credential: "c"}},
		Language:       "de",
		TermsVersion:   terms,
		// The tests of seats and relay run without the admission step;
		// withTherapistAdmission brings it back.
		Admission: config.AdmissionAutomatic,
	}
	logs := &testlog.Buffer{}
	m := metrics.New()
	rc := room.FromConfig(cfg)
	rc.Now = clk.Now
	states := make(chan room.State, 1024)
	rc.OnChange = func(st room.State) {
		m.Observe(st)
		select {
		case states <- st:
		default:
		}
	}
	opts := Options{
		Config:  cfg,
		Metrics: m,
		Logger:  slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:     clk.Now,
	}
	for _, s := range setups {
		s(cfg, &rc, &opts)
	}
	r := room.New(rc)
	opts.Room = r
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(s.Handler())
	if tune != nil {
		tune(srv.Config)
	}
	srv.Start()
	h := &harness{t: t, srv: srv, server: s, room: r, clock: clk, logs: logs, metrics: m, cfg: cfg, states: states}
	t.Cleanup(func() {
		srv.Close()
		s.Close()
		for _, secret := range []string{therapistToken, clientToken, therapistName, clientName, secretSDP, "192.0.2.77"} {
			if strings.Contains(logs.String(), secret) {
				t.Errorf("the log holds personal data %q:\n%s", secret, logs.String())
			}
		}
	})
	return h
}

// client is a browser tab: a WebSocket whose reader runs all the time (so
// it answers pings), unless it was dialed dead.
type client struct {
	t      testing.TB
	ws     *websocket.Conn
	msgs   chan *protocol.Envelope
	done   chan struct{}
	endErr error
}

func (h *harness) wsURL() string { return "ws" + strings.TrimPrefix(h.srv.URL, "http") + "/ws" }

// dial opens a live tab.
func (h *harness) dial() *client {
	h.t.Helper()
	c := h.dialDead()
	go c.readLoop()
	return c
}

// dialDead opens a tab that never reads, so it never answers a ping.
func (h *harness) dialDead() *client {
	h.t.Helper()
	return h.dialWith(nil)
}

// dialWith opens a tab that does not read yet, through opts.
func (h *harness) dialWith(opts *websocket.DialOptions) *client {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, h.wsURL(), opts)
	if err != nil {
		h.t.Fatalf("dial: %v", err)
	}
	ws.SetReadLimit(1 << 20)
	c := &client{t: h.t, ws: ws, msgs: make(chan *protocol.Envelope, 1024), done: make(chan struct{})}
	h.t.Cleanup(func() { _ = ws.CloseNow() })
	return c
}

func (c *client) readLoop() {
	defer close(c.done)
	for {
		_, b, err := c.ws.Read(context.Background())
		if err != nil {
			c.endErr = err
			return
		}
		env, err := protocol.DecodeServer(b)
		if err != nil {
			c.endErr = err
			return
		}
		c.msgs <- env
	}
}

// sendRaw writes one text frame.
func (c *client) sendRaw(frame string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// send writes a message of type typ with JSON data.
func (c *client) send(typ protocol.Type, data string) {
	c.t.Helper()
	c.sendRaw(`{"type":"` + string(typ) + `","data":` + data + `}`)
}

// next returns the next message.
func (c *client) next() *protocol.Envelope {
	c.t.Helper()
	select {
	case env := <-c.msgs:
		return env
	case <-c.done:
		select {
		case env := <-c.msgs:
			return env
		default:
		}
		c.t.Fatalf("connection ended (%v) while waiting for a message", c.endErr)
	case <-time.After(wait):
		c.t.Fatal("no message within the deadline")
	}
	return nil
}

// expect returns the data of the next message, which must be of type typ.
func expect[T any](c *client, typ protocol.Type) T {
	c.t.Helper()
	env := c.next()
	if env.Type != typ {
		c.t.Fatalf("got %s %s, want %s", env.Type, env.Data, typ)
	}
	v, err := protocol.DecodeData[T](env)
	if err != nil {
		c.t.Fatal(err)
	}
	return v
}

// expectError waits for an error message with code.
func (c *client) expectError(code protocol.Code) {
	c.t.Helper()
	if e := expect[protocol.ErrorData](c, protocol.TypeError); e.Code != code {
		c.t.Fatalf("error %s (%s), want %s", e.Code, e.Message, code)
	}
}

// expectClosed waits until the server closed the WebSocket with code.
func (c *client) expectClosed(code int) {
	c.t.Helper()
	select {
	case <-c.done:
	case <-time.After(wait):
		c.t.Fatalf("not closed within the deadline, want %d", code)
	}
	if got := websocket.CloseStatus(c.endErr); int(got) != code {
		c.t.Fatalf("closed with %d (%v), want %d", got, c.endErr, code)
	}
}

// quiet asserts that no message is waiting.
func (c *client) quiet() {
	c.t.Helper()
	select {
	case env := <-c.msgs:
		c.t.Fatalf("unexpected %s %s", env.Type, env.Data)
	default:
	}
}

func tokenOf(role protocol.Role) string {
	if role == protocol.RoleTherapist {
		return therapistToken
	}
	return clientToken
}

func nameOf(role protocol.Role) string {
	if role == protocol.RoleTherapist {
		return therapistName
	}
	return clientName
}

// hello says hello as role and expects welcome.
func (c *client) hello(role protocol.Role) protocol.Welcome {
	c.t.Helper()
	c.send(protocol.TypeHello, `{"version":2,"token":"`+tokenOf(role)+`"}`)
	w := expect[protocol.Welcome](c, protocol.TypeWelcome)
	if w.Role != role {
		c.t.Fatalf("welcomed as %s, want %s", w.Role, role)
	}
	return w
}

// joinData is a valid join for role with its name and resume.
func joinData(role protocol.Role, resume string) string {
	j := protocol.Join{Name: nameOf(role), Resume: resume}
	if role == protocol.RoleClient {
		j.Consent = &protocol.Consent{TermsAccepted: true, ProcessingAccepted: true, TermsVersion: terms}
	}
	b, _ := json.Marshal(j)
	return string(b)
}

// join joins as the welcomed role and expects joined.
func (c *client) join(role protocol.Role, resume string) protocol.Joined {
	c.t.Helper()
	c.send(protocol.TypeJoin, joinData(role, resume))
	return expect[protocol.Joined](c, protocol.TypeJoined)
}

// enter dials, says hello and joins as role.
func (h *harness) enter(role protocol.Role) (*client, protocol.Joined) {
	h.t.Helper()
	c := h.dial()
	c.hello(role)
	return c, c.join(role, "")
}

// pair brings both people into the room; the therapist sees peer-joined.
func (h *harness) pair() (therapist, client *client) {
	h.t.Helper()
	therapist, _ = h.enter(protocol.RoleTherapist)
	client, _ = h.enter(protocol.RoleClient)
	expect[protocol.Peer](therapist, protocol.TypePeerJoined)
	return therapist, client
}

// negotiate has a offer and b answer, as a user's call would.
func negotiate(a, b *client) {
	a.t.Helper()
	a.send(protocol.TypeOffer, `{"sdp":"`+secretSDP+`"}`)
	if o := expect[protocol.SDP](b, protocol.TypeOffer); o.SDP != secretSDP {
		a.t.Fatalf("offer relayed as %q", o.SDP)
	}
	b.send(protocol.TypeAnswer, `{"sdp":"answer `+secretSDP+`"}`)
	expect[protocol.SDP](a, protocol.TypeAnswer)
	a.send(protocol.TypeCandidate, `{"candidate":"candidate:1 1 udp 1 192.0.2.77 5000 typ host","sdpMid":"0","sdpMLineIndex":0}`)
	if c := expect[protocol.Candidate](b, protocol.TypeCandidate); c.Candidate == nil || c.SDPMid == nil || *c.SDPMid != "0" {
		a.t.Fatalf("candidate relayed as %+v", c)
	}
}

// get fetches path from the server.
func (h *harness) get(path string) (int, string) {
	h.t.Helper()
	resp, err := http.Get(h.srv.URL + path)
	if err != nil {
		h.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// dialOrigin tries a WebSocket handshake with an Origin header.
func (h *harness) dialOrigin(origin string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, h.wsURL(), &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {origin}}})
	if err == nil {
		_ = ws.CloseNow()
		return http.StatusSwitchingProtocols, nil
	}
	if resp == nil {
		return 0, err
	}
	return resp.StatusCode, err
}

// hostOf is the host:port of the test server.
func (h *harness) hostOf() string {
	u, err := url.Parse(h.srv.URL)
	if err != nil {
		h.t.Fatal(err)
	}
	return u.Host
}

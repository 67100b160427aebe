package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sprechzimmer/sprechzimmer/signaling/config"
	"github.com/sprechzimmer/sprechzimmer/signaling/protocol"
	"github.com/sprechzimmer/sprechzimmer/signaling/room"
)

// stage is how far a tab got before the bad input.
type stage int

const (
	connected stage = iota // WebSocket open, no hello
	welcomed               // hello answered
	alone                  // joined, the other person not there
	paired                 // both joined
	hungUp                 // both joined, then this tab hung up
)

func TestBadInputsGetTypedErrorsAndTheRoomGoesOn(t *testing.T) {
	consent := func(terms string, terms1, processing bool) string {
		return fmt.Sprintf(`{"consent":{"termsAccepted":%v,"processingAccepted":%v,"termsVersion":%q}}`, terms1, processing, terms)
	}
	tests := []struct {
		name   string
		role   protocol.Role
		stage  stage
		frames []string
		binary bool
		code   protocol.Code
		close  int // 0: the connection stays
	}{
		{"malformed JSON", protocol.RoleTherapist, paired, []string{`{"type":"offer",`}, false, protocol.CodeBadMessage, 0},
		{"not an envelope", protocol.RoleClient, paired, []string{`["offer"]`}, false, protocol.CodeBadMessage, 0},
		{"unknown type", protocol.RoleTherapist, paired, []string{`{"type":"mute-other","data":{}}`}, false, protocol.CodeUnknownType, 0},
		{"server type from a browser", protocol.RoleClient, paired, []string{`{"type":"peer-left","data":{"role":"therapist","reason":"hangup"}}`}, false, protocol.CodeUnknownType, 0},
		{"oversize message", protocol.RoleTherapist, paired, []string{`{"type":"offer","data":{"sdp":"` + strings.Repeat("a", 70<<10) + `"}}`}, false, protocol.CodeTooLarge, 0},
		{"binary frame", protocol.RoleClient, paired, []string{`{"type":"hangup","data":{}}`}, true, protocol.CodeBadMessage, 0},
		{"bad data shape", protocol.RoleTherapist, paired, []string{`{"type":"offer","data":{"sdp":5}}`}, false, protocol.CodeBadMessage, 0},
		{"data not an object", protocol.RoleClient, paired, []string{`{"type":"candidate","data":"candidate:1"}`}, false, protocol.CodeBadMessage, 0},
		{"offer without sdp", protocol.RoleTherapist, paired, []string{`{"type":"offer","data":{}}`}, false, protocol.CodeBadMessage, 0},
		{"answer with no pending offer", protocol.RoleClient, paired, []string{`{"type":"answer","data":{"sdp":"v=0"}}`}, false, protocol.CodeUnexpectedAnswer, 0},
		{"offer after hangup", protocol.RoleClient, hungUp, []string{`{"type":"offer","data":{"sdp":"v=0"}}`}, false, protocol.CodeNotJoined, 0},
		{"hangup after hangup", protocol.RoleTherapist, hungUp, []string{`{"type":"hangup","data":{}}`}, false, protocol.CodeNotJoined, 0},
		{"offer before join", protocol.RoleTherapist, welcomed, []string{`{"type":"offer","data":{"sdp":"v=0"}}`}, false, protocol.CodeNotJoined, 0},
		{"candidate with nobody there", protocol.RoleTherapist, alone, []string{`{"type":"candidate","data":{"candidate":null}}`}, false, protocol.CodeNoPeer, 0},
		{"second join", protocol.RoleClient, alone, []string{`{"type":"join","data":` + consent(terms, true, true) + `}`}, false, protocol.CodeAlreadyJoined, 0},
		{"second hello", protocol.RoleClient, welcomed, []string{`{"type":"hello","data":{"version":2,"token":"` + clientToken + `"}}`}, false, protocol.CodeAlreadyWelcomed, 0},
		{"missing consent", protocol.RoleClient, welcomed, []string{`{"type":"join","data":{}}`}, false, protocol.CodeConsentRequired, 0},
		{"processing not accepted", protocol.RoleClient, welcomed, []string{`{"type":"join","data":` + consent(terms, true, false) + `}`}, false, protocol.CodeConsentRequired, 0},
		{"wrong terms version", protocol.RoleClient, welcomed, []string{`{"type":"join","data":` + consent("2025-01", true, true) + `}`}, false, protocol.CodeConsentRequired, 0},
		{"name too long", protocol.RoleTherapist, welcomed, []string{`{"type":"join","data":{"name":"` + strings.Repeat("ü", 65) + `"}}`}, false, protocol.CodeBadName, 0},
		{"name imitating a role", protocol.RoleTherapist, welcomed, []string{`{"type":"join","data":{"name":" Ihre Klientin "}}`}, false, protocol.CodeBadName, 0},
		{"name of combining marks", protocol.RoleTherapist, welcomed, []string{`{"type":"join","data":{"name":"` + strings.Repeat(`\u0301`, 64) + `"}}`}, false, protocol.CodeBadName, 0},
		{"rate limit", protocol.RoleTherapist, paired, repeat(`{"type":"candidate","data":{"candidate":null}}`, 61), false, protocol.CodeRateLimited, 0},
		// The connection test runs in the browser; no server peer decrypts media.
		{"echo test of an old page", protocol.RoleClient, welcomed, []string{`{"type":"test-offer","data":{"sdp":"v=0"}}`}, false, protocol.CodeUnknownType, 0},
		{"wrong token", protocol.RoleClient, connected, []string{`{"type":"hello","data":{"version":2,"token":"guessed"}}`}, false, protocol.CodeLinkInvalid, protocol.CloseLinkInvalid},
		{"no token", protocol.RoleClient, connected, []string{`{"type":"hello","data":{"version":2}}`}, false, protocol.CodeLinkInvalid, protocol.CloseLinkInvalid},
		{"hello of protocol version 1", protocol.RoleTherapist, connected, []string{`{"type":"hello","data":{"version":1,"token":"` + therapistToken + `"}}`}, false, protocol.CodeVersionUnsupported, protocol.CloseProtocol},
		{"client hello of protocol version 1", protocol.RoleClient, connected, []string{`{"type":"hello","data":{"version":1,"token":"` + clientToken + `"}}`}, false, protocol.CodeVersionUnsupported, protocol.CloseProtocol},
		{"admit from the client", protocol.RoleClient, paired, []string{`{"type":"admit","data":{}}`}, false, protocol.CodeNotTherapist, 0},
		{"end from the client", protocol.RoleClient, paired, []string{`{"type":"end","data":{}}`}, false, protocol.CodeNotTherapist, 0},
		{"admit with no client waiting", protocol.RoleTherapist, paired, []string{`{"type":"admit","data":{}}`}, false, protocol.CodeNotWaiting, 0},
		{"admit before join", protocol.RoleTherapist, welcomed, []string{`{"type":"admit","data":{}}`}, false, protocol.CodeNotJoined, 0},
		{"end before join", protocol.RoleTherapist, welcomed, []string{`{"type":"end","data":{}}`}, false, protocol.CodeNotJoined, 0},
		{"check with a result that is none", protocol.RoleClient, welcomed, []string{`{"type":"join","data":{"check":{"camera":"great"},` + strings.TrimPrefix(consent(terms, true, true), "{") + `}`}, false, protocol.CodeBadMessage, 0},
		{"join before hello", protocol.RoleTherapist, connected, []string{`{"type":"join","data":{}}`}, false, protocol.CodeHelloRequired, protocol.CloseProtocol},
		{"garbage before hello", protocol.RoleClient, connected, []string{`GET / HTTP/1.1`}, false, protocol.CodeHelloRequired, protocol.CloseProtocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			var other *client
			c := h.dial()
			if tt.stage >= welcomed {
				c.hello(tt.role)
			}
			if tt.stage >= alone {
				c.join(tt.role, "")
			}
			if tt.stage >= paired {
				other, _ = h.enter(tt.role.Other())
				expect[protocol.Peer](c, protocol.TypePeerJoined)
			}
			if tt.stage == hungUp {
				c.send(protocol.TypeHangup, `{}`)
				expect[protocol.PeerLeft](other, protocol.TypePeerLeft)
			}

			for _, f := range tt.frames {
				typ := websocket.MessageText
				if tt.binary {
					typ = websocket.MessageBinary
				}
				if err := c.ws.Write(context.Background(), typ, []byte(f)); err != nil {
					t.Fatal(err)
				}
			}
			c.expectError(tt.code)
			if tt.close != 0 {
				c.expectClosed(tt.close)
			}
			if tt.code == protocol.CodeRateLimited {
				// The burst, less hello and join, is relayed to the other
				// person (the test clock adds no tokens); the rest is refused.
				for range DefaultBurst - 2 {
					expect[protocol.Candidate](other, protocol.TypeCandidate)
				}
			}
			if other != nil {
				other.quiet()
			}
			h.clock.add(10 * time.Second) // refill the rate limiter

			// The room goes on: the same tab (or, after a fatal error, a new
			// one) gets into the room and negotiates with the other person.
			if tt.close != 0 {
				c, _ = h.enter(tt.role)
				if other != nil {
					expect[protocol.Peer](other, protocol.TypePeerJoined)
				}
			} else if tt.stage == welcomed || tt.stage == hungUp {
				c.join(tt.role, "")
				if other != nil {
					expect[protocol.Peer](other, protocol.TypePeerJoined)
				}
			}
			if other == nil {
				other, _ = h.enter(tt.role.Other())
				expect[protocol.Peer](c, protocol.TypePeerJoined)
			}
			negotiate(c, other)
			negotiate(other, c)
			if got := scrape(t, h, `sprechzimmer_signaling_protocol_errors_total{code="`+string(tt.code)+`"}`); got < 1 {
				t.Errorf("protocol_errors_total{code=%q} = %v", tt.code, got)
			}
			refused := 0
			if tt.code == protocol.CodeLinkInvalid || tt.code == protocol.CodeConsentRequired {
				refused = 1
			}
			if s := h.room.State(); s.RefusedJoins != refused {
				t.Errorf("refusedJoins = %d, want %d", s.RefusedJoins, refused)
			}
			// The metric counts the same refusals as the room's state.
			counted := 0.0
			for _, c := range room.RefusalCodes {
				counted += scrape(t, h, `sprechzimmer_signaling_join_refusals_total{reason="`+string(c)+`"}`)
			}
			if counted != float64(refused) {
				t.Errorf("join_refusals_total = %v in all, want %d", counted, refused)
			}
		})
	}
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// scrape returns the value of one metric line from /metrics, -1 if absent.
func scrape(t *testing.T, h *harness, series string) float64 {
	t.Helper()
	_, body := h.get("/metrics")
	for _, line := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			var v float64
			if _, err := fmt.Sscan(rest, &v); err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	return -1
}

func TestLinkAfterExpiryIsRefused(t *testing.T) {
	h := newHarness(t)
	h.clock.add(2 * time.Hour)
	c := h.dial()
	c.send(protocol.TypeHello, `{"version":2,"token":"`+clientToken+`"}`)
	c.expectError(protocol.CodeLinkExpired)
	c.expectClosed(protocol.CloseLinkExpired)
}

func TestFiftyConcurrentJoinsSeatOnePerRole(t *testing.T) {
	const n = 50
	// The race for the seats is the point here, not the caps on
	// connections (TestCapsDropTheLongestWaitingAndRefuseWhenAllSaidHello).
	h := newHarness(t, func(_ *config.Config, _ *room.Config, o *Options) {
		o.MaxConns, o.MaxPending = n, n
	})
	type result struct {
		role   protocol.Role
		joined bool
		c      *client
	}
	results := make(chan result, n)
	var wg sync.WaitGroup
	for i := range n {
		role := protocol.RoleTherapist
		if i%2 == 1 {
			role = protocol.RoleClient
		}
		c := h.dial()
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.send(protocol.TypeHello, `{"version":2,"token":"`+tokenOf(role)+`"}`)
			c.send(protocol.TypeJoin, joinData(role, ""))
			for {
				select {
				case env := <-c.msgs:
					switch env.Type {
					case protocol.TypeJoined:
						results <- result{role, true, c}
						return
					case protocol.TypeError:
						results <- result{role, false, c}
						return
					}
				case <-time.After(wait):
					results <- result{role, false, nil}
					return
				}
			}
		}()
	}
	wg.Wait()
	close(results)
	joined := map[protocol.Role]int{}
	for r := range results {
		if r.c == nil {
			t.Fatal("a tab got no answer")
		}
		if r.joined {
			joined[r.role]++
			continue
		}
		r.c.expectClosed(protocol.CloseRoomFull)
	}
	if joined[protocol.RoleTherapist] != 1 || joined[protocol.RoleClient] != 1 {
		t.Fatalf("joined per role: %v", joined)
	}
	if s := h.room.State(); s.Participants != 2 || s.RefusedJoins != n-2 {
		t.Fatalf("state %+v", s)
	}
	if got := scrape(t, h, `sprechzimmer_signaling_join_refusals_total{reason="room-full"}`); got != n-2 {
		t.Fatalf("room-full refusals %v", got)
	}
	if got := scrape(t, h, `sprechzimmer_signaling_connected_peers`); got != 2 {
		t.Fatalf("connected_peers %v", got)
	}
}

func TestReconnectWithResumeReplacesTheOldTab(t *testing.T) {
	h := newHarness(t)
	therapist, _ := h.enter(protocol.RoleTherapist)
	old := h.dial()
	old.hello(protocol.RoleClient)
	j := old.join(protocol.RoleClient, "")
	expect[protocol.Peer](therapist, protocol.TypePeerJoined)
	negotiate(therapist, old)

	tab := h.dial()
	tab.hello(protocol.RoleClient)
	j2 := tab.join(protocol.RoleClient, j.Resume)
	if j2.Peer == nil || j2.Peer.Role != protocol.RoleTherapist || j2.Peer.Name != therapistName || !j2.Polite {
		t.Fatalf("joined %+v", j2)
	}
	if j2.Resume == j.Resume {
		t.Fatal("the resume value was reused")
	}
	old.expectError(protocol.CodeReplaced)
	old.expectClosed(protocol.CloseReplaced)
	if l := expect[protocol.PeerLeft](therapist, protocol.TypePeerLeft); l.Reason != protocol.LeftGone {
		t.Fatalf("peer-left %+v", l)
	}
	if p := expect[protocol.Peer](therapist, protocol.TypePeerJoined); p.Name != clientName {
		t.Fatalf("peer-joined %+v", p)
	}
	negotiate(therapist, tab)
	if s := h.room.State(); s.Participants != 2 || !s.EndedAt.IsZero() {
		t.Fatalf("a reconnect ended the call: %+v", s)
	}
}

func TestDeadHolderIsReplacedAfterTheProbe(t *testing.T) {
	h := newHarness(t, func(_ *config.Config, rc *room.Config, _ *Options) {
		rc.ProbeTimeout = 200 * time.Millisecond
	})
	dead := h.dialDead() // hello and join, then never reads: no pongs
	dead.send(protocol.TypeHello, `{"version":2,"token":"`+therapistToken+`"}`)
	dead.send(protocol.TypeJoin, joinData(protocol.RoleTherapist, ""))
	h.awaitParticipants(1)
	client, _ := h.enter(protocol.RoleClient)

	start := time.Now()
	fresh, _ := h.enter(protocol.RoleTherapist)
	if took := time.Since(start); took < 200*time.Millisecond {
		t.Fatalf("replaced after %v, before the probe's deadline", took)
	}
	expect[protocol.PeerLeft](client, protocol.TypePeerLeft)
	expect[protocol.Peer](client, protocol.TypePeerJoined)
	negotiate(fresh, client)
}

func TestLiveThirdTabGetsRoomFull(t *testing.T) {
	for _, role := range []protocol.Role{protocol.RoleTherapist, protocol.RoleClient} {
		t.Run(string(role), func(t *testing.T) {
			h := newHarness(t)
			therapist, client := h.pair()
			third := h.dial()
			third.hello(role)
			third.send(protocol.TypeJoin, joinData(role, "not-the-resume"))
			third.expectError(protocol.CodeRoomFull)
			third.expectClosed(protocol.CloseRoomFull)
			therapist.quiet()
			client.quiet()
			negotiate(therapist, client)
			if s := h.room.State(); s.RefusedJoins != 1 {
				t.Fatalf("refusedJoins %d", s.RefusedJoins)
			}
		})
	}
}

func TestExpirySendsRoomClosedAndCloses4006(t *testing.T) {
	h := newHarness(t)
	therapist, cl := h.pair()
	waiting := h.dial()
	waiting.hello(protocol.RoleClient) // in the waiting room, not joined
	if code, _ := h.get("/readyz"); code != http.StatusOK {
		t.Fatalf("readyz %d before expiry", code)
	}

	h.room.Expire()
	for _, c := range []*client{therapist, cl, waiting} {
		if rc := expect[protocol.RoomClosed](c, protocol.TypeRoomClosed); rc.Reason != protocol.ClosedExpired {
			t.Fatalf("room-closed %+v", rc)
		}
		c.expectClosed(protocol.CloseRoomClosed)
	}
	late := h.dial()
	expect[protocol.RoomClosed](late, protocol.TypeRoomClosed)
	late.expectClosed(protocol.CloseRoomClosed)
	if code, _ := h.get("/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("readyz %d after expiry", code)
	}
	done := make(chan struct{})
	go func() { h.server.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatal("connections still running after expiry")
	}
}

func TestOriginCheck(t *testing.T) {
	public := func(cfg *config.Config, _ *room.Config, _ *Options) {
		cfg.PublicURL, _ = url.Parse("https://praxis.example/r/abc/")
		cfg.AllowedOrigins = []string{"https://portal.example"}
	}
	tests := []struct {
		name   string
		public bool
		origin string
		ok     bool
	}{
		{"public origin", true, "https://praxis.example", true},
		{"public origin, other case", true, "https://Praxis.Example", true},
		{"allowed origin", true, "https://portal.example", true},
		{"foreign origin", true, "https://evil.example", false},
		{"public host over http", true, "http://praxis.example", false},
		{"same host when a public URL is set", true, "http://SAMEHOST", false},
		{"stand-alone same host", false, "http://SAMEHOST", true},
		{"stand-alone foreign origin", false, "https://evil.example", false},
		{"not a URL", false, "::", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h *harness
			if tt.public {
				h = newHarness(t, public)
			} else {
				h = newHarness(t)
			}
			code, err := h.dialOrigin(strings.ReplaceAll(tt.origin, "SAMEHOST", h.hostOf()))
			if tt.ok && code != http.StatusSwitchingProtocols {
				t.Fatalf("refused (%d): %v", code, err)
			}
			if !tt.ok && code != http.StatusForbidden {
				t.Fatalf("got %d, want 403", code)
			}
		})
	}
}

func TestSilentTabIsDroppedAndTheOtherSeesItGo(t *testing.T) {
	h := newHarness(t, func(_ *config.Config, _ *room.Config, o *Options) {
		// Short, but long enough for a live tab on a loaded machine to pong.
		o.PingInterval = 50 * time.Millisecond
		o.DeadAfter = time.Second
	})
	client, _ := h.enter(protocol.RoleClient)
	dead := h.dialDead()
	dead.send(protocol.TypeHello, `{"version":2,"token":"`+therapistToken+`"}`)
	dead.send(protocol.TypeJoin, joinData(protocol.RoleTherapist, ""))
	expect[protocol.Peer](client, protocol.TypePeerJoined)
	if l := expect[protocol.PeerLeft](client, protocol.TypePeerLeft); l.Reason != protocol.LeftGone || l.Role != protocol.RoleTherapist {
		t.Fatalf("peer-left %+v", l)
	}
	// The live client answered every ping and is still there.
	therapist, j := h.enter(protocol.RoleTherapist)
	if j.Peer == nil || j.Peer.Role != protocol.RoleClient {
		t.Fatalf("joined %+v", j)
	}
	expect[protocol.Peer](client, protocol.TypePeerJoined)
	negotiate(therapist, client)
}

func TestPageHealthAndMetrics(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		path string
		code int
		has  string
	}{
		{"/", http.StatusOK, "<title>"},
		{"/healthz", http.StatusOK, "ok"},
		{"/readyz", http.StatusOK, "ok"},
		{"/metrics", http.StatusOK, "sprechzimmer_signaling_joins_total"},
		{"/nope.js", http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		code, body := h.get(tt.path)
		if code != tt.code || !strings.Contains(body, tt.has) {
			t.Errorf("GET %s: %d %.80q", tt.path, code, body)
		}
	}
	h.pair()
	for _, role := range []protocol.Role{protocol.RoleTherapist, protocol.RoleClient} {
		if got := scrape(t, h, `sprechzimmer_signaling_joins_total{role="`+string(role)+`"}`); got != 1 {
			t.Errorf("joins_total{role=%q} = %v", role, got)
		}
	}
}

func TestWelcomeCarriesTheRoom(t *testing.T) {
	h := newHarness(t)
	c := h.dial()
	w := c.hello(protocol.RoleClient)
	if w.TermsVersion != terms || w.Language != "de" || !w.ExpiresAt.Equal(h.cfg.ExpiresAt) ||
		len(w.ICEServers) != 1 || w.ICEServers[0].Credential != "c" {
		t.Fatalf("welcome %+v", w)
	}
}

func TestLogsHoldNoPersonalData(t *testing.T) {
	h := newHarness(t)
	therapist, client := h.pair()
	negotiate(therapist, client)
	client.send(protocol.TypeHangup, `{}`)
	bad := h.dial()
	bad.send(protocol.TypeHello, `{"version":2,"token":"`+clientToken+`x"}`)
	bad.expectClosed(protocol.CloseLinkInvalid)
	h.server.Close() // waits for every connection's goroutines, and so their logs
	logs := h.logs.String()
	for _, want := range []string{`"msg":"connection opened"`, `"code":"link-invalid"`, `"msg":"connection closed"`} {
		if !strings.Contains(logs, want) {
			t.Fatalf("the log lacks %s:\n%s", want, logs)
		}
	}
	// newHarness's cleanup asserts that no token, name, SDP or address is in it.
}

func TestSilentNewConnectionIsClosedWithoutHello(t *testing.T) {
	h := newHarness(t, func(_ *config.Config, _ *room.Config, o *Options) {
		o.HelloTimeout = 50 * time.Millisecond
	})
	// A tab that says hello in time stays; one opened after it that stays
	// silent is closed once its own timeout, later than the first's, ran out.
	client, _ := h.enter(protocol.RoleClient)
	silent := h.dial()
	silent.expectError(protocol.CodeHelloRequired)
	silent.expectClosed(protocol.CloseProtocol)
	therapist, _ := h.enter(protocol.RoleTherapist)
	expect[protocol.Peer](client, protocol.TypePeerJoined)
	negotiate(therapist, client)
}

func TestTabThatStopsReadingIsDroppedNotWaitedFor(t *testing.T) {
	// Small socket buffers let the server's writer to the stuck tab block
	// after little data, so its send queue fills up soon.
	small := func(rc syscall.RawConn, opt int) {
		_ = rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, opt, 4096) })
	}
	tune := func(s *http.Server) {
		s.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
			if sc, ok := c.(syscall.Conn); ok {
				if rc, err := sc.SyscallConn(); err == nil {
					small(rc, syscall.SO_SNDBUF)
				}
			}
			return ctx
		}
	}
	h := newTunedHarness(t, tune, func(_ *config.Config, _ *room.Config, o *Options) {
		o.Rate, o.Burst = 1e9, 1e9
		// Small enough that the stuck tab's queue fills soon, large enough
		// for the no-peer replies the therapist gets for the offers it sends
		// between the drop and reading peer-left (with 4 the therapist was
		// dropped too, now and then).
		o.SendQueue = 16
	})
	therapist, _ := h.enter(protocol.RoleTherapist)
	dialer := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		small(rc, syscall.SO_RCVBUF)
		return nil
	}}
	// The stuck tab joins, then never reads.
	stuck := h.dialWith(&websocket.DialOptions{HTTPClient: &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}})
	stuck.send(protocol.TypeHello, `{"version":2,"token":"`+clientToken+`"}`)
	stuck.send(protocol.TypeJoin, joinData(protocol.RoleClient, ""))
	expect[protocol.Peer](therapist, protocol.TypePeerJoined)
	big := `{"type":"offer","data":{"sdp":"` + strings.Repeat("v", 60<<10) + `"}}`
	for i := range 2000 {
		therapist.sendRaw(big)
		select {
		case env := <-therapist.msgs:
			if l, err := protocol.DecodeData[protocol.PeerLeft](env); env.Type != protocol.TypePeerLeft || err != nil || l.Reason != protocol.LeftGone {
				t.Fatalf("got %s %s", env.Type, env.Data)
			}
			t.Logf("dropped after %d offers", i)
			// The stuck tab was dropped; the therapist was never blocked.
			negotiateAlone(t, therapist)
			return
		default:
		}
	}
	t.Fatal("the stuck tab was never dropped")
}

// negotiateAlone checks that a tab alone in the room is answered.
func negotiateAlone(t *testing.T, c *client) {
	t.Helper()
	c.send(protocol.TypeOffer, `{"sdp":"v=0"}`)
	c.expectError(protocol.CodeNoPeer)
}

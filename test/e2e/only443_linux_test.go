package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sprechzimmer/sprechzimmer/internal/testbrowser"
	"github.com/sprechzimmer/sprechzimmer/internal/turncred"
	"github.com/sprechzimmer/sprechzimmer/internal/turntest"
	"github.com/sprechzimmer/sprechzimmer/signaling/protocol"
	"github.com/sprechzimmer/sprechzimmer/turn"
)

// The networks of issue 12: a client behind a firewall that lets only TCP
// to port 443 out (hotels, clinics, offices), and one that lets even less.
// Inside the e2e network namespace the front door (the room's page and
// WebSocket over HTTPS) and the TURN server each listen on port 443 of an
// address of their own, as in production; the browsers run as a user of
// their own, and a packet filter on that user's sockets is the firewall.
const (
	// frontDoorIP serves the room on https://frontDoorIP/ (port 443).
	frontDoorIP = "127.0.0.3"
	// relayIP is the TURN server's: UDP and TCP on 3478, TLS on 443.
	// Firefox maps a test's host name to 127.0.0.1 only
	// (testbrowser.LaunchOptions.HostResolverRules).
	relayIP = "127.0.0.1"
	// relayName is the TURN server's host name, which the browsers
	// resolve to relayIP: Firefox speaks TLS only to a TURN server named
	// by host name, as in production.
	relayName = "turn.sprechzimmer.test"
	// firewalledUID is the firewalled browsers' user.
	firewalledUID = 4430
	// turnSecret is the test TURN server's shared secret.
	turnSecret = "only443-secret"
)

// requireOwnNetwork skips t unless the test runs in the e2e network
// namespace (as root, see inOwnNetwork), where it may change addresses and
// the packet filter without touching the host's; with CI=true it fails.
func requireOwnNetwork(t *testing.T) {
	t.Helper()
	if os.Getenv(netnsEnv) != "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("needs the e2e network namespace of its own (run as root; CI=true needs it)")
	}
	t.Skip("needs the e2e network namespace of its own: run as root")
}

// testPKI is a certificate authority of the test and one certificate of
// it for both servers' addresses.
type testPKI struct {
	// certFile and keyFile are the servers' certificate and key, PEM.
	certFile, keyFile string
	// cert is the servers' certificate, which the browsers accept.
	cert *x509.Certificate
	// tls serves the certificate.
	tls *tls.Config
}

// newTestPKI issues a certificate for frontDoorIP, relayIP and relayName
// from a fresh authority, its files in dir.
func newTestPKI(dir string) (*testPKI, error) {
	ca, err := turntest.NewCA()
	if err != nil {
		return nil, err
	}
	p := &testPKI{certFile: filepath.Join(dir, "tls.crt"), keyFile: filepath.Join(dir, "tls.key")}
	if err := ca.Issue(p.certFile, p.keyFile, 2, frontDoorIP, relayIP, relayName); err != nil {
		return nil, err
	}
	pair, err := tls.LoadX509KeyPair(p.certFile, p.keyFile)
	if err != nil {
		return nil, err
	}
	if p.cert, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
		return nil, err
	}
	p.tls = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	return p, nil
}

// tlsRelay is a TURN server with a TLS listener, started on relayIP.
type tlsRelay struct {
	name string
	// start runs the server with the certificate of pki until the test
	// ends: UDP and TCP on 3478, TLS on 443, credentials minted with
	// turnSecret.
	start func(t *testing.T, pki *testPKI)
}

// tlsRelays are the TURN servers the tests run against.
var tlsRelays = []tlsRelay{
	{name: "own server", start: startOwnTLS},
	{name: "coturn", start: startCoturnTLS},
}

// startOwnTLS runs the project's TURN server (package turn) as a tlsRelay,
// with loopback allowed as a peer: both browsers relay on relayIP.
func startOwnTLS(t *testing.T, pki *testPKI) {
	t.Helper()
	srv, err := turn.New(turn.Config{
		Realm:      "sprechzimmer.test",
		Secret:     []byte(turnSecret),
		UDPAddress: relayIP + ":3478", TCPAddress: relayIP + ":3478", TLSAddress: relayIP + ":443",
		TLSCertFile: pki.certFile, TLSKeyFile: pki.keyFile,
		RelayIP: net.ParseIP(relayIP), RelayBindIP: relayIP,
		Peers:  turn.NewPeerPolicy([]netip.Prefix{netip.MustParsePrefix(relayIP + "/32")}, nil),
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
}

// startCoturnTLS runs coturn as a tlsRelay.
func startCoturnTLS(t *testing.T, pki *testPKI) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitLong)
	defer cancel()
	c, err := turntest.StartCoturn(ctx, turntest.CoturnConfig{
		Secret: turnSecret, Realm: "sprechzimmer.test",
		ListenIP: net.ParseIP(relayIP), Port: 3478, TCP: true,
		TLSPort: 443, TLSCertFile: pki.certFile, TLSKeyFile: pki.keyFile,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
}

// roomICE is what the operator hands a room for the relay on relayIP: its
// UDP, TCP and TLS URLs in the order browsers should try them, with
// credentials minted under turnSecret.
func roomICE() []protocol.ICEServer {
	cred := turncred.Mint([]byte(turnSecret), "only443", time.Now().Add(time.Hour))
	return []protocol.ICEServer{{
		URLs: []string{
			"turn:" + relayIP + ":3478?transport=udp",
			"turn:" + relayIP + ":3478?transport=tcp",
			"turns:" + relayName + ":443?transport=tcp",
		},
		Username:   cred.Username,
		Credential: cred.Password,
	}}
}

// firewall lets the sockets of user uid send nothing but TCP to port 443
// (of allowTo only, if given) and the answers on TCP connections others
// opened to them (the test's DevTools and BiDi connections to the
// browsers). Everything else they send is dropped, as firewalls do, IPv4
// and IPv6; so nothing that reaches them over UDP can be answered either.
// The rules go when the test ends.
func firewall(t *testing.T, uid int, allowTo string) {
	t.Helper()
	chain := "SZ-FIREWALL-" + strconv.Itoa(uid)
	owner := []string{"-m", "owner", "--uid-owner", strconv.Itoa(uid)}
	for _, tool := range []string{"iptables", "ip6tables"} {
		run := func(args ...string) error {
			out, err := exec.Command(tool, append([]string{"-w"}, args...)...).CombinedOutput()
			if err != nil {
				return fmt.Errorf("%s %s: %w: %s", tool, strings.Join(args, " "), err, out)
			}
			return nil
		}
		allow := []string{"-A", chain, "-p", "tcp", "--dport", "443"}
		switch {
		case allowTo == "":
		case tool == "iptables":
			allow = append(allow, "-d", allowTo)
		default:
			allow = nil // an IPv4 address: nothing to allow over IPv6
		}
		steps := [][]string{
			{"-N", chain},
			// Only TCP: the answers to UDP that arrived (e.g. from the TURN
			// server's relay, which the filter does not hold) would let
			// the browser's own UDP out.
			{"-A", chain, "-p", "tcp", "-m", "conntrack", "--ctstate", "ESTABLISHED", "--ctdir", "REPLY", "-j", "ACCEPT"},
		}
		if allow != nil {
			steps = append(steps, append(allow, "-j", "ACCEPT"))
		}
		steps = append(steps, []string{"-A", chain, "-j", "DROP"}, append(append([]string{"-I", "OUTPUT"}, owner...), "-j", chain))
		t.Cleanup(func() {
			_ = run(append(append([]string{"-D", "OUTPUT"}, owner...), "-j", chain)...)
			_ = run("-F", chain)
			_ = run("-X", chain)
		})
		for _, args := range steps {
			if err := run(args...); err != nil {
				t.Fatalf("packet filter (iptables): %v", err)
			}
		}
	}
}

// firewalledBrowser is the browser of engine e that runs as firewalledUID
// and accepts sharedPKI's certificate, started on first use and shared by
// the tests (stopBrowsers ends it), as Firefox takes minutes to start on
// a busy machine.
func firewalledBrowser(t *testing.T, e engine) *testbrowser.Browser {
	t.Helper()
	testbrowser.Require(t, e)
	pki := sharedPKI(t)
	s := firewalled[e]
	s.once.Do(func() {
		s.browser, s.stop, s.err = testbrowser.Launch(testbrowser.LaunchOptions{
			Engine: e, FakeUI: true, UID: firewalledUID, AcceptCert: pki.cert,
			HostResolverRules: "MAP " + relayName + " " + relayIP,
		})
	})
	if s.err != nil {
		t.Fatalf("starting %s as uid %d: %v", e, firewalledUID, s.err)
	}
	return s.browser
}

// The servers' certificate, made once per test process.
var (
	pkiOnce   sync.Once
	pkiShared *testPKI
	pkiErr    error
)

// sharedPKI is the servers' certificate of this test process; its files
// go when the process ends (stopBrowsers).
func sharedPKI(t *testing.T) *testPKI {
	t.Helper()
	pkiOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sprechzimmer-e2e-pki-")
		if err != nil {
			pkiErr = err
			return
		}
		atExit = append(atExit, func() { _ = os.RemoveAll(dir) })
		pkiShared, pkiErr = newTestPKI(dir)
	})
	if pkiErr != nil {
		t.Fatal(pkiErr)
	}
	return pkiShared
}

// frontDoorLink is the room link as the front door on port 443 serves it.
func frontDoorLink(roomURL, token string) string {
	return strings.Replace(roomURL, ":443/", "/", 1) + "#t=" + token
}

// localCandidate is the local side of a page's selected candidate pair.
type localCandidate struct {
	Type          string `json:"candidateType"`
	RelayProtocol string `json:"relayProtocol"`
	URL           string `json:"url"`
}

// selectedLocalCandidate reads the local candidate of the call's selected
// pair from getStats.
func selectedLocalCandidate(p *page) localCandidate {
	p.T.Helper()
	s, err := testbrowser.Eval[string](p, `(async () => {
		const stats = await window.sprechzimmer.pc.getStats();
		let pair;
		stats.forEach(r => { if (r.type === "transport" && r.selectedCandidatePairId) pair = stats.get(r.selectedCandidatePairId); });
		if (!pair) stats.forEach(r => { if (r.type === "candidate-pair" && r.selected) pair = r; });
		return JSON.stringify(pair ? stats.get(pair.localCandidateId) : {});
	})()`)
	if err != nil {
		p.T.Fatalf("%s: reading the candidate pair: %v", p.Name, err)
	}
	var c localCandidate
	if err := json.Unmarshal([]byte(s), &c); err != nil {
		p.T.Fatalf("%s: candidate %s: %v", p.Name, s, err)
	}
	return c
}

// TestOnly443 puts both browsers behind a firewall that lets only TCP to
// port 443 out: no UDP, no TURN on 3478, no direct path between them. The
// room hands out the TURN server's UDP, TCP and TLS URLs; the call must
// come up over turns: on 443, with a Chromium therapist and a Chromium or
// Firefox client, and both must decode the other's video.
func TestOnly443(t *testing.T) {
	requireOwnNetwork(t)
	for _, relay := range tlsRelays {
		t.Run(relay.name, func(t *testing.T) {
			pki := sharedPKI(t)
			relay.start(t, pki)
			firewall(t, firewalledUID, "")
			therapistBrowser := firewalledBrowser(t, chromium)
			for _, e := range testbrowser.Engines {
				t.Run("client in "+string(e), func(t *testing.T) {
					therapist, client := openBehindFirewall(t, therapistBrowser, e, pki)
					therapist.EnterByKeyboard()
					client.EnterAsClient("")
					for _, p := range []*page{therapist, client} {
						p.WaitState("connected")
					}
					for _, p := range []*page{therapist, client} {
						// The network message of a blocked network is not shown.
						p.WaitFor("no network message", `!document.body.dataset.network`)
						p.AssertVideoFlows()
						if c := selectedLocalCandidate(p); c.Type != "relay" || c.RelayProtocol != "tls" {
							t.Errorf("%s: the call runs over a %s candidate relayed over %q, want relay over tls (turns: on 443)", p.Name, c.Type, c.RelayProtocol)
						}
					}
				})
			}
		})
	}
}

// openBehindFirewall starts a room served on the front door's address on
// 443 and opens its therapist's link in therapistBrowser and its client's
// link in a firewalled browser of engine e (the same one for Chromium).
func openBehindFirewall(t *testing.T, therapistBrowser *testbrowser.Browser, e engine, pki *testPKI, clientOpts ...testbrowser.Option) (therapist, client *page) {
	t.Helper()
	r := startRoom(t, roomOptions{iceServers: roomICE(), listen: frontDoorIP + ":443", tls: pki.tls})
	therapist = testbrowser.Open(t, therapistBrowser, "therapist", frontDoorLink(r.URL, r.Therapist))
	clientBrowser := therapistBrowser
	if e != chromium {
		clientBrowser = firewalledBrowser(t, e)
	}
	return therapist, testbrowser.Open(t, clientBrowser, "client", frontDoorLink(r.URL, r.Client), clientOpts...)
}

// Texts of the network message a German-speaking client reads.
const (
	textNetworkBlocked = "Ihr Netzwerk lässt die Verbindung für Bild und Ton nicht durch."
	textTryMobile      = "die mobilen Daten Ihres Telefons"
	textTryIT          = "Verbindungen über Port 443 (TCP) zu erlauben"
)

// networkTimes records on the page, in its own clock, when the call began
// (the person is in the room with the other: body data-state "calling")
// and when the network message came (body data-network set).
const networkTimes = `
	window.networkTimes = {};
	new MutationObserver(() => {
		const b = document.body, times = window.networkTimes;
		if (!b) return;
		if (times.calling === undefined && b.dataset.state === "calling") times.calling = performance.now();
		if (times.shown === undefined && b.dataset.network) times.shown = performance.now();
	}).observe(document, {subtree: true, attributes: true, attributeFilter: ["data-state", "data-network"]});`

// networkMessageBound is how soon a client behind a blocking network must
// be told (issue 12).
const networkMessageBound = 15 * time.Second

// TestNetworkBlocked puts both browsers behind a firewall that lets only
// the front door through (TCP 443 to its address): the page and its
// WebSocket work, every way to the TURN server is blocked, TLS on 443
// included. Within 15 s of both being in the room the client's page must
// say plainly that their network is the problem and what they can try,
// announced to screen readers, instead of "connecting" for ever.
func TestNetworkBlocked(t *testing.T) {
	requireOwnNetwork(t)
	pki := sharedPKI(t)
	startCoturnTLS(t, pki)
	firewall(t, firewalledUID, frontDoorIP)
	therapistBrowser := firewalledBrowser(t, chromium)
	for _, e := range testbrowser.Engines {
		t.Run("client in "+string(e), func(t *testing.T) {
			therapist, client := openBehindFirewall(t, therapistBrowser, e, pki, testbrowser.WithInitScript(networkTimes))
			therapist.EnterByKeyboard()
			client.EnterAsClient("")
			client.WaitFor("the network message", `document.body.dataset.network === "blocked"`)
			times, err := testbrowser.Eval[map[string]float64](client, "window.networkTimes")
			if err != nil {
				t.Fatal(err)
			}
			calling, ok := times["calling"]
			if !ok {
				t.Fatalf("the client's page never said calling (%v)", times)
			}
			if took := time.Duration(times["shown"]-calling) * time.Millisecond; took > networkMessageBound {
				t.Errorf("the network message came %v after the call began, want within %v", took, networkMessageBound)
			} else {
				t.Logf("the network message came %v after the call began", took)
			}
			if !client.Visible("network-problem") {
				t.Error("the network message is not visible")
			}
			if role, _ := testbrowser.Eval[string](client, `document.getElementById("network-problem").getAttribute("role")`); role != "alert" {
				t.Errorf("the network message has role %q, want alert (screen readers announce it)", role)
			}
			got := client.Text("network-problem")
			for _, want := range []string{textNetworkBlocked, textTryMobile, textTryIT} {
				if !strings.Contains(got, want) {
					t.Errorf("the network message %q does not say %q", got, want)
				}
			}
			assertAccessible(t, client, "network message")
			client.Screenshot("call-network-blocked")
		})
	}
}

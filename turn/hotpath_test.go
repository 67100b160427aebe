package turn_test

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/stun/v4"

	"github.com/sprechzimmer/sprechzimmer/internal/turncred"
	"github.com/sprechzimmer/sprechzimmer/internal/turntest"
	"github.com/sprechzimmer/sprechzimmer/turn"
)

// rawClient is a minimal TURN client over UDP that allocates, binds one
// channel and then sends and receives ChannelData on a plain socket, so
// that it allocates no memory per datagram itself: what a test measures
// around it is the server's.
type rawClient struct {
	conn    net.Conn
	stream  bool // TURN over TCP: messages are read by their length
	relay   netip.AddrPort
	channel uint16
	auth    []stun.Setter // username, realm, nonce and integrity
}

// turnRequest sends a request and returns the response, retrying on loss.
func (c *rawClient) turnRequest(t testing.TB, setters ...stun.Setter) *stun.Message {
	t.Helper()
	req, err := stun.Build(append([]stun.Setter{stun.TransactionID}, setters...)...)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	for range 10 {
		if _, err := c.conn.Write(req.Raw); err != nil {
			t.Fatal(err)
		}
		_ = c.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, err := c.readMessage(buf, 20)
		if err != nil {
			continue
		}
		res := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if err := res.Decode(); err != nil || res.TransactionID != req.TransactionID {
			continue
		}
		return res
	}
	t.Fatal("no response from the TURN server")
	return nil
}

// readMessage reads one datagram, or over TCP one message: a STUN
// message (header 20) or a ChannelData message (header 4), whose length
// is in bytes 2-3, padded to 4 over TCP.
func (c *rawClient) readMessage(buf []byte, header int) (int, error) {
	if !c.stream {
		return c.conn.Read(buf)
	}
	if _, err := io.ReadFull(c.conn, buf[:header]); err != nil {
		return 0, err
	}
	n := header + (int(binary.BigEndian.Uint16(buf[2:]))+3)&^3
	if n > len(buf) {
		return 0, fmt.Errorf("message of %d bytes", n)
	}
	_, err := io.ReadFull(c.conn, buf[header:n])
	return n, err
}

// dialRaw allocates on the server at server (UDP, or TCP for a
// *net.TCPAddr) with cred and binds a channel to peer.
func dialRaw(t testing.TB, server net.Addr, cred turncred.Credential, peer netip.AddrPort) *rawClient {
	t.Helper()
	conn, err := net.Dial(server.Network(), server.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if u, ok := conn.(*net.UDPConn); ok {
		_ = u.SetReadBuffer(4 << 20)
	}
	c := &rawClient{conn: conn, channel: 0x4001, stream: server.Network() == "tcp"}
	transport := stun.RawAttribute{Type: stun.AttrRequestedTransport, Value: []byte{17, 0, 0, 0}}
	allocate := stun.NewType(stun.MethodAllocate, stun.ClassRequest)
	challenge := c.turnRequest(t, allocate, transport)
	var realm stun.Realm
	var nonce stun.Nonce
	if err := realm.GetFrom(challenge); err != nil {
		t.Fatalf("allocate challenge without realm: %v", err)
	}
	if err := nonce.GetFrom(challenge); err != nil {
		t.Fatalf("allocate challenge without nonce: %v", err)
	}
	auth := []stun.Setter{
		stun.NewUsername(cred.Username), realm, nonce,
		stun.NewLongTermIntegrity(cred.Username, realm.String(), cred.Password),
	}
	c.auth = auth
	res := c.turnRequest(t, append([]stun.Setter{allocate, transport}, auth...)...)
	var relay stun.XORMappedAddress
	if err := relay.GetFromAs(res, stun.AttrXORRelayedAddress); err != nil {
		t.Fatalf("allocate: %v (%v)", err, res)
	}
	c.relay = netip.AddrPortFrom(netip.MustParseAddr(relay.IP.String()), uint16(relay.Port))
	number := stun.RawAttribute{Type: stun.AttrChannelNumber, Value: []byte{byte(c.channel >> 8), byte(c.channel), 0, 0}}
	peerAttr := xorPeer{stun.XORMappedAddress{IP: peer.Addr().AsSlice(), Port: int(peer.Port())}}
	bind := c.turnRequest(t, append([]stun.Setter{stun.NewType(stun.MethodChannelBind, stun.ClassRequest), number, peerAttr}, auth...)...)
	if bind.Type.Class != stun.ClassSuccessResponse {
		t.Fatalf("channel bind: %v", bind)
	}
	_ = conn.SetReadDeadline(time.Time{})
	return c
}

// xorPeer adds an XOR-PEER-ADDRESS attribute.
type xorPeer struct{ stun.XORMappedAddress }

func (a xorPeer) AddTo(m *stun.Message) error { return a.AddToAs(m, stun.AttrXORPeerAddress) }

// relayOnce sends one datagram from the client to the peer through the
// channel and one back, into preallocated buffers, and checks both.
func relayOnce(c *rawClient, peer *net.UDPConn, frame, payload, buf []byte) error {
	if _, err := c.conn.Write(frame); err != nil {
		return err
	}
	n, _, err := peer.ReadFromUDPAddrPort(buf)
	if err != nil {
		return fmt.Errorf("peer: %w", err)
	}
	if n != len(frame)-4 {
		return fmt.Errorf("peer got %d bytes, want %d", n, len(frame)-4)
	}
	if _, err := peer.WriteToUDPAddrPort(payload, c.relay); err != nil {
		return err
	}
	n, err = c.readMessage(buf, channelHeader)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	if n < 4+len(payload) || binary.BigEndian.Uint16(buf) != c.channel || int(binary.BigEndian.Uint16(buf[2:])) != len(payload) {
		return fmt.Errorf("client got %d bytes, not ChannelData of %d bytes on channel %#x", n, len(payload), c.channel)
	}
	return nil
}

// channelHeader is the size of a ChannelData message's header.
const channelHeader = 4

// relayPair is a server with one allocation whose channel leads to a
// peer, its client coming in over UDP, or over TCP when tcp is set.
func relayPair(t testing.TB, cfg turn.Config, tcp bool) (*rawClient, *net.UDPConn) {
	t.Helper()
	srv := startLoopback(t, cfg)
	peer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = peer.Close() })
	cred := turncred.Mint([]byte(testSecret), "room-hotpath", time.Now().Add(time.Hour))
	server := srv.UDPAddr()
	if tcp {
		server = srv.TCPAddr()
	}
	c := dialRaw(t, server, cred, peer.LocalAddr().(*net.UDPAddr).AddrPort())
	deadline := time.Now().Add(time.Minute)
	_ = peer.SetReadDeadline(deadline)
	_ = c.conn.SetReadDeadline(deadline)
	return c, peer
}

const hotPathPayload = 1200

func channelFrame(channel uint16, payload []byte) []byte {
	frame := binary.BigEndian.AppendUint16(nil, channel)
	frame = binary.BigEndian.AppendUint16(frame, uint16(len(payload)))
	return append(frame, payload...)
}

// TestRelayAllocatesNothingPerDatagram relays ChannelData both ways
// through one allocation, the client over UDP and over TCP, and counts the
// memory allocations of the whole process (server, client and peer; the
// last two allocate nothing) per relayed datagram. Every allocation costs
// CPU in the allocator and the garbage collector on each of a call's
// thousands of datagrams per second; pion/turn's own path makes 5 per
// datagram over UDP.
func TestRelayAllocatesNothingPerDatagram(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates by itself")
	}
	for _, tt := range []struct {
		name string
		tcp  bool
	}{{name: "udp"}, {name: "tcp", tcp: true}} {
		t.Run(tt.name, func(t *testing.T) {
			c, peer := relayPair(t, turn.Config{}, tt.tcp)
			payload := make([]byte, hotPathPayload)
			frame, buf := channelFrame(c.channel, payload), make([]byte, 2048)
			for range 100 { // warm up: buffers, maps and queues reach their size
				if err := relayOnce(c, peer, frame, payload, buf); err != nil {
					t.Fatal(err)
				}
			}
			var failed error
			perRound := testing.AllocsPerRun(500, func() {
				if err := relayOnce(c, peer, frame, payload, buf); err != nil && failed == nil {
					failed = err
				}
			})
			if failed != nil {
				t.Fatal(failed)
			}
			// Two datagrams relayed per round; the ceiling leaves room for
			// a timer or a map growth now and then, not for one per datagram.
			if perDatagram := perRound / 2; perDatagram > 0.5 {
				t.Fatalf("%.2f allocations per relayed datagram, want at most 0.5", perDatagram)
			}
		})
	}
}

// BenchmarkRelayChannelData relays ChannelData through one allocation over
// UDP, a round (client to peer and back) per iteration.
func BenchmarkRelayChannelData(b *testing.B) {
	c, peer := relayPair(b, turn.Config{}, false)
	payload := make([]byte, hotPathPayload)
	frame, buf := channelFrame(c.channel, payload), make([]byte, 2048)
	b.ReportAllocs()
	b.SetBytes(2 * hotPathPayload)
	for b.Loop() {
		if err := relayOnce(c, peer, frame, payload, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// TestChannelDataStopsWithTheAllocation checks that ChannelData, which
// the server relays without pion/turn, stops when the client deletes its
// allocation (a Refresh with lifetime 0), as pion stops relaying it.
func TestChannelDataStopsWithTheAllocation(t *testing.T) {
	c, peer := relayPair(t, turn.Config{}, false)
	payload := []byte("media")
	frame, buf := channelFrame(c.channel, payload), make([]byte, 2048)
	if err := relayOnce(c, peer, frame, payload, buf); err != nil {
		t.Fatal(err)
	}
	lifetime := stun.RawAttribute{Type: stun.AttrLifetime, Value: []byte{0, 0, 0, 0}}
	res := c.turnRequest(t, append([]stun.Setter{stun.NewType(stun.MethodRefresh, stun.ClassRequest), lifetime}, c.auth...)...)
	if res.Type.Class != stun.ClassSuccessResponse {
		t.Fatalf("refresh with lifetime 0: %v", res)
	}
	if _, err := c.conn.Write(frame); err != nil {
		t.Fatal(err)
	}
	if got, silent := turntest.Silent(peer, silence); !silent {
		t.Fatalf("after the allocation was deleted the peer got %q", got)
	}
}

package turn

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/sprechzimmer/sprechzimmer/internal/udpbatch"
)

// ChannelData, the bulk of a call's relayed traffic once the browser has
// bound a channel to its peer (RFC 8656 section 12), is relayed by this
// package's socket wrappers themselves rather than handed to pion/turn,
// whose path costs 6-9 memory allocations per datagram (a request struct,
// a ChannelData message and its buffer, address conversions for every
// allocation lookup). Pion stays in charge of everything else (requests,
// authentication, permissions, Send and Data indications, lifetimes):
// routes mirrors its allocations and channel bindings from its events, and
// a datagram the mirror does not know is handed to pion as before. Every
// relayed datagram still passes the relay socket's peer check (policy, own
// addresses, credential expiry) and its byte counters.

// channelHeader is the size of a ChannelData header: channel number and
// length.
const channelHeader = 4

// routeKey identifies an allocation by its client's transport address as
// the listener sees it; for TCP and TLS by the server's side too, the
// listener's port telling the two apart.
type routeKey struct {
	client, server netip.AddrPort
}

// routes is the mirror of pion's allocations and channel bindings that the
// ChannelData fast path relays by.
type routes struct {
	mu       sync.RWMutex
	byClient map[routeKey]*route
	relays   map[int]*relayConn // relay sockets by port, from creation to close
}

func newRoutes() *routes {
	return &routes{byClient: map[routeKey]*route{}, relays: map[int]*relayConn{}}
}

// route is one allocation: its relay socket, its client, and its channels.
type route struct {
	key    routeKey
	relay  *relayConn
	client net.Addr // the client's address as pion has it
	// udp is the listener socket the client was last heard on, for a UDP
	// client; nil until then (and for TCP and TLS clients).
	udp atomic.Pointer[udpbatch.Conn]
	// stream is the writer of the connection of a TCP or TLS client, nil
	// until the client has been heard on it after the allocation.
	stream atomic.Pointer[streamWriter]
	// channels are the bound channels, replaced whole on a change (rare),
	// read without a lock on every datagram.
	channels atomic.Pointer[[]boundChannel]
}

// boundChannel is one channel binding.
type boundChannel struct {
	number uint16
	peer   netip.AddrPort // unmapped
	addr   net.Addr       // the peer's address as pion has it
}

// addrPort is the IP and port of a *net.UDPAddr or *net.TCPAddr, an
// IPv4-mapped address unmapped; no allocation.
func addrPort(a net.Addr) (netip.AddrPort, bool) {
	var ip net.IP
	var port int
	switch a := a.(type) {
	case *net.UDPAddr:
		ip, port = a.IP, a.Port
	case *net.TCPAddr:
		ip, port = a.IP, a.Port
	default:
		return netip.AddrPort{}, false
	}
	addr, ok := netip.AddrFromSlice(ip)
	if !ok || port < 0 || port > 0xffff {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(addr.Unmap(), uint16(port)), true
}

// keyOf is the routeKey of the allocation of client on the listener at
// server (pion's five tuple): UDP allocations by the client alone.
func keyOf(client, server net.Addr) (routeKey, bool) {
	c, ok := addrPort(client)
	if !ok {
		return routeKey{}, false
	}
	if _, udp := client.(*net.UDPAddr); udp {
		return routeKey{client: c}, true
	}
	s, ok := addrPort(server)
	return routeKey{client: c, server: s}, ok
}

// addRelay records a relay socket until its allocation is created.
func (r *routes) addRelay(c *relayConn) {
	r.mu.Lock()
	r.relays[c.port] = c
	r.mu.Unlock()
}

// removeRelay forgets a closed relay socket and its route.
func (r *routes) removeRelay(c *relayConn) {
	r.mu.Lock()
	if r.relays[c.port] == c {
		delete(r.relays, c.port)
	}
	if rt := c.route.Load(); rt != nil && r.byClient[rt.key] == rt {
		delete(r.byClient, rt.key)
	}
	r.mu.Unlock()
	c.route.Store(nil)
}

// allocationCreated links pion's new allocation of client on the listener
// at server to its relay socket at relayAddr.
func (r *routes) allocationCreated(client, server, relayAddr net.Addr) {
	key, ok := keyOf(client, server)
	relay, rok := addrPort(relayAddr)
	if !ok || !rok {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	rc := r.relays[int(relay.Port())]
	if rc == nil {
		return
	}
	rt := &route{key: key, relay: rc, client: client}
	rt.channels.Store(&[]boundChannel{})
	r.byClient[key] = rt
	rc.route.Store(rt)
}

// allocationDeleted forgets the allocation of client on server.
func (r *routes) allocationDeleted(client, server net.Addr) {
	key, ok := keyOf(client, server)
	if !ok {
		return
	}
	r.mu.Lock()
	rt := r.byClient[key]
	delete(r.byClient, key)
	r.mu.Unlock()
	if rt != nil {
		rt.relay.route.CompareAndSwap(rt, nil)
	}
}

// lookup is the route of the allocation keyed key, nil if none.
func (r *routes) lookup(key routeKey) *route {
	r.mu.RLock()
	rt := r.byClient[key]
	r.mu.RUnlock()
	return rt
}

// channelBound adds a channel to the allocation of client on server.
func (r *routes) channelBound(client, server, peer net.Addr, number uint16) {
	r.changeChannels(client, server, func(chs []boundChannel) []boundChannel {
		p, ok := addrPort(peer)
		if !ok {
			return chs
		}
		return append(chs, boundChannel{number: number, peer: p, addr: peer})
	})
}

// channelUnbound removes a channel from the allocation of client on server.
func (r *routes) channelUnbound(client, server net.Addr, number uint16) {
	r.changeChannels(client, server, func(chs []boundChannel) []boundChannel {
		out := chs[:0]
		for _, ch := range chs {
			if ch.number != number {
				out = append(out, ch)
			}
		}
		return out
	})
}

// changeChannels replaces the channels of an allocation by change's
// result, given a copy.
func (r *routes) changeChannels(client, server net.Addr, change func([]boundChannel) []boundChannel) {
	key, ok := keyOf(client, server)
	if !ok {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if rt := r.byClient[key]; rt != nil {
		chs := append([]boundChannel(nil), *rt.channels.Load()...)
		chs = change(chs)
		rt.channels.Store(&chs)
	}
}

// byNumber is the channel numbered number, nil if none is bound.
func (rt *route) byNumber(number uint16) *boundChannel {
	chs := *rt.channels.Load()
	for i := range chs {
		if chs[i].number == number {
			return &chs[i]
		}
	}
	return nil
}

// byPeer is the channel bound to peer, nil if none.
func (rt *route) byPeer(peer netip.AddrPort) *boundChannel {
	chs := *rt.channels.Load()
	for i := range chs {
		if chs[i].peer == peer {
			return &chs[i]
		}
	}
	return nil
}

// isChannelData reports whether p starts like ChannelData: a channel
// number (0x4000-0x7fff, the first two bits 01) where a STUN message has
// two zero bits.
func isChannelData(p []byte) bool {
	return len(p) >= channelHeader && p[0]&0xc0 == 0x40
}

// channelPayload is the data of the ChannelData message p and its channel
// number; ok is false when the length field exceeds the message.
func channelPayload(p []byte) (data []byte, number uint16, ok bool) {
	number = binary.BigEndian.Uint16(p)
	n := int(binary.BigEndian.Uint16(p[2:]))
	if channelHeader+n > len(p) {
		return nil, 0, false
	}
	return p[channelHeader : channelHeader+n], number, true
}

// fromUDPClient is the listener sockets' udpbatch.Intercept: it notes the
// socket a known client is heard on and relays its ChannelData on bound
// channels to the peer. Anything else goes to pion.
func (r *routes) fromUDPClient(conn *udpbatch.Conn, p []byte, from net.Addr) bool {
	client, ok := addrPort(from)
	if !ok {
		return false
	}
	rt := r.lookup(routeKey{client: client})
	if rt == nil {
		return false
	}
	if rt.udp.Load() != conn {
		rt.udp.Store(conn)
	}
	return rt.fromClient(p)
}

// fromClient relays the datagram p from the client if it is ChannelData
// on a bound channel, and reports whether it did (or dropped it as the
// peer check says). Anything else is left to pion.
func (rt *route) fromClient(p []byte) bool {
	if !isChannelData(p) {
		return false
	}
	data, number, ok := channelPayload(p)
	if !ok {
		return false
	}
	ch := rt.byNumber(number)
	if ch == nil {
		return false
	}
	// A refused peer or an expired credential drops the datagram, counted
	// by the check, as pion's write through the relay socket would.
	_, _ = rt.relay.WriteTo(data, ch.addr)
	return true
}

// toClient sends the datagram p from peer to the client as ChannelData if
// a channel is bound to peer and the client's socket is known, and reports
// whether it did.
func (rt *route) toClient(p []byte, peer net.Addr) bool {
	from, ok := addrPort(peer)
	if !ok {
		return false
	}
	ch := rt.byPeer(from)
	if ch == nil {
		return false
	}
	if len(p) > 0xffff {
		return false
	}
	var head [channelHeader]byte
	binary.BigEndian.PutUint16(head[:], ch.number)
	binary.BigEndian.PutUint16(head[2:], uint16(len(p))) //nolint:gosec // checked above
	// Padded to a multiple of 4: required over TCP and TLS, optional over
	// UDP, where pion pads too.
	pad := -len(p) & 3
	if stream := rt.stream.Load(); stream != nil {
		stream.writeFrame(head[:], p, pad)
		return true
	}
	udp := rt.udp.Load()
	return udp != nil && udp.WriteFramed(head[:], p, pad, rt.client) == nil
}

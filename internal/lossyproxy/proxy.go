// Package lossyproxy is a UDP forwarder that drops and delays datagrams,
// to throttle a path in tests: put it between a browser and its TURN
// server and the call's media crosses a line as lossy or slow as the test
// says, changeable while the call runs.
package lossyproxy

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// Impairment is what one direction of the proxy does to datagrams.
type Impairment struct {
	// Loss is the share of datagrams dropped, 0..1.
	Loss float64
	// Delay holds every datagram back this long.
	Delay time.Duration
}

// Proxy forwards UDP datagrams between clients and one target. Each client
// address gets its own socket towards the target, so the target sees as
// many clients as there are.
type Proxy struct {
	listen *net.UDPConn
	target *net.UDPAddr

	mu       sync.Mutex
	up, down Impairment // client→target, target→client
	rng      *rand.Rand
	clients  map[string]*net.UDPConn
	local    net.IP // the address the sockets towards the target send from

	done chan struct{}
	wg   sync.WaitGroup
}

// Start listens on a free port of 127.0.0.1 and forwards to target until
// Close. It starts with no impairment.
func Start(ctx context.Context, target *net.UDPAddr) (*Proxy, error) {
	var lc net.ListenConfig
	pc, err := lc.ListenPacket(ctx, "udp4", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("lossyproxy listen: %w", err)
	}
	p := &Proxy{
		listen:  pc.(*net.UDPConn),
		target:  target,
		rng:     rand.New(rand.NewPCG(1, 2)), //nolint:gosec // the same losses on every run, not a secret
		clients: map[string]*net.UDPConn{},
		local:   net.IPv4(127, 0, 0, 1),
		done:    make(chan struct{}),
	}
	p.wg.Add(1)
	go p.fromClients()
	return p, nil
}

// Addr is the address clients send to.
func (p *Proxy) Addr() *net.UDPAddr { return p.listen.LocalAddr().(*net.UDPAddr) }

// Set changes the impairment of both directions: up is client→target,
// down is target→client.
func (p *Proxy) Set(up, down Impairment) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.up, p.down = up, down
}

// Close stops forwarding and closes every socket.
func (p *Proxy) Close() {
	close(p.done)
	_ = p.listen.Close()
	p.mu.Lock()
	for _, c := range p.clients {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// pass reports whether a datagram survives the direction's loss, and its delay.
func (p *Proxy) pass(upstream bool) (bool, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	imp := p.down
	if upstream {
		imp = p.up
	}
	return imp.Loss <= 0 || p.rng.Float64() >= imp.Loss, imp.Delay
}

// send writes b now or after delay.
func (p *Proxy) send(delay time.Duration, b []byte, write func([]byte)) {
	if delay <= 0 {
		write(b)
		return
	}
	c := append([]byte(nil), b...)
	time.AfterFunc(delay, func() {
		select {
		case <-p.done:
		default:
			write(c)
		}
	})
}

// fromClients reads what clients send and forwards it to the target.
func (p *Proxy) fromClients() {
	defer p.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, from, err := p.listen.ReadFromUDP(buf)
		if err != nil {
			return
		}
		out, err := p.clientConn(from)
		if err != nil {
			continue
		}
		if ok, delay := p.pass(true); ok {
			p.send(delay, buf[:n], func(b []byte) { _, _ = out.Write(b) })
		}
	}
}

// clientConn returns the socket towards the target for the client at
// from, making it and its reader on first use.
func (p *Proxy) clientConn(from *net.UDPAddr) (*net.UDPConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.clients[from.String()]; ok {
		return c, nil
	}
	select {
	case <-p.done:
		return nil, errors.New("lossyproxy closed")
	default:
	}
	return p.dialLocked(from)
}

// dialLocked makes the socket towards the target for the client at from,
// from p.local, and its reader. p.mu is held.
func (p *Proxy) dialLocked(from *net.UDPAddr) (*net.UDPConn, error) {
	c, err := net.DialUDP("udp4", &net.UDPAddr{IP: p.local}, p.target)
	if err != nil {
		return nil, err
	}
	p.clients[from.String()] = c
	p.wg.Add(1)
	go p.fromTarget(c, from)
	return c, nil
}

// Move gives every client a new socket towards the target, sending from
// local (an address of this host, e.g. 127.0.0.2), and closes the old
// ones: to the target each client now comes from another address, as
// after a change of network or a NAT's new mapping, and what the target
// sends to the old address is lost. Later clients send from local too.
func (p *Proxy) Move(local net.IP) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.local = local
	var errs []error
	for key, old := range p.clients {
		from, err := net.ResolveUDPAddr("udp4", key)
		if err == nil {
			_, err = p.dialLocked(from)
		}
		if err != nil {
			delete(p.clients, key)
			errs = append(errs, err)
		}
		_ = old.Close()
	}
	return errors.Join(errs...)
}

// fromTarget forwards what the target sends on c back to the client.
func (p *Proxy) fromTarget(c *net.UDPConn, client *net.UDPAddr) {
	defer p.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, err := c.Read(buf)
		if err != nil {
			select {
			case <-p.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return // moved (Move)
			}
			continue // e.g. a refused datagram (ICMP) while the target restarts
		}
		if ok, delay := p.pass(false); ok {
			p.send(delay, buf[:n], func(b []byte) { _, _ = p.listen.WriteToUDP(b, client) })
		}
	}
}

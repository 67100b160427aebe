package turntest

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/pion/logging"

	pionturn "github.com/pion/turn/v5"
)

// quiet silences the pion client: its messages carry addresses and would
// clutter test and benchmark output.
var quiet = &logging.DefaultLoggerFactory{Writer: io.Discard, DefaultLogLevel: logging.LogLevelDisabled}

// Allocation is a pion/turn client with a UDP relay allocation.
type Allocation struct {
	// Relay sends to and receives from peers through the TURN server.
	Relay  net.PacketConn
	client *pionturn.Client
	conn   net.PacketConn
}

// Allocate asks the TURN server at server for a UDP relay allocation with
// the given credentials, from a fresh socket on 127.0.0.1. A *net.TCPAddr
// server is reached over TCP (TURN over TCP, the relay still UDP), a
// TLSAddr over TLS (TURN over TLS).
func Allocate(ctx context.Context, server net.Addr, username, password string) (*Allocation, error) {
	return AllocateFrom(ctx, net.IPv4(127, 0, 0, 1), server, username, password)
}

// AllocateFrom is Allocate from a fresh socket on local, for example
// 127.0.0.2 to play a second client address on loopback.
func AllocateFrom(ctx context.Context, local net.IP, server net.Addr, username, password string) (*Allocation, error) {
	conn, err := clientConn(ctx, local, server)
	if err != nil {
		return nil, err
	}
	client, err := pionturn.NewClient(&pionturn.ClientConfig{
		TURNServerAddr: server.String(),
		Username:       username,
		Password:       password,
		Conn:           conn,
		LoggerFactory:  quiet,
	})
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("turn client: %w", err)
	}
	if err := client.Listen(); err != nil {
		client.Close()
		_ = conn.Close()
		return nil, fmt.Errorf("turn client listen: %w", err)
	}
	relay, err := client.AllocateWithContext(ctx)
	if err != nil {
		client.Close()
		_ = conn.Close()
		return nil, fmt.Errorf("turn allocate: %w", err)
	}
	return &Allocation{Relay: relay, client: client, conn: conn}, nil
}

// clientConn is the client's socket towards server.
func clientConn(ctx context.Context, local net.IP, server net.Addr) (net.PacketConn, error) {
	if s, ok := server.(TLSAddr); ok {
		d := tls.Dialer{NetDialer: &net.Dialer{LocalAddr: &net.TCPAddr{IP: local}}, Config: s.Config}
		c, err := d.DialContext(ctx, "tcp4", s.Addr.String())
		if err != nil {
			return nil, fmt.Errorf("turn client tls: %w", err)
		}
		return pionturn.NewSTUNConn(c), nil
	}
	if server.Network() == "tcp" {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: local}}
		c, err := d.DialContext(ctx, "tcp4", server.String())
		if err != nil {
			return nil, fmt.Errorf("turn client tcp: %w", err)
		}
		return pionturn.NewSTUNConn(c), nil
	}
	var lc net.ListenConfig
	conn, err := lc.ListenPacket(ctx, "udp4", net.JoinHostPort(local.String(), "0"))
	if err != nil {
		return nil, fmt.Errorf("turn client socket: %w", err)
	}
	return conn, nil
}

// CreatePermission asks the server to let peer exchange data with the relay.
func (a *Allocation) CreatePermission(peer net.Addr) error {
	if err := a.client.CreatePermission(peer); err != nil {
		return fmt.Errorf("turn create permission: %w", err)
	}
	return nil
}

// Close deletes the allocation (a Refresh with lifetime 0) and closes the client.
func (a *Allocation) Close() {
	_ = a.Relay.Close()
	a.client.Close()
	_ = a.conn.Close()
}

// Silent reports whether conn receives nothing for d: what a service on the
// TURN host sees when the relay refuses to reach it. It returns what
// arrived otherwise.
func Silent(conn net.PacketConn, d time.Duration) (string, bool) {
	_ = conn.SetReadDeadline(time.Now().Add(d))
	defer func() { _ = conn.SetReadDeadline(time.Time{}) }()
	buf := make([]byte, 1500)
	n, _, err := conn.ReadFrom(buf)
	if err != nil {
		return "", true
	}
	return string(buf[:n]), false
}

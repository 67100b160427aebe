// Package flood opens WebSockets the cheap way an attacker would: a raw
// TCP connection, a hand-written upgrade request, the 101 read, and then
// nothing: no hello, no reads, no pongs. The signaling server's flood test
// and the flood benchmark (test/bench/flood) use it.
package flood

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// ErrRefused is returned when the server answered the upgrade with a
// status other than 101.
var ErrRefused = errors.New("flood: upgrade refused")

// Open dials addr (host:port) and upgrades to a WebSocket at path; it
// returns the open connection, which the caller holds and closes. A
// refusal (any status but 101) is ErrRefused, wrapped with the status.
func Open(ctx context.Context, addr, path string) (net.Conn, error) {
	return OpenFrom(ctx, netip.Addr{}, addr, path)
}

// OpenFrom is Open from the local address src (the zero Addr: any), so
// that one machine can stand in for many sources on loopback (127.0.0.0/8).
func OpenFrom(ctx context.Context, src netip.Addr, addr, path string) (net.Conn, error) {
	var d net.Dialer
	if src.IsValid() {
		d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))
	}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	req := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", path, addr, base64.StdEncoding.EncodeToString(key))
	if _, err := conn.Write([]byte(req)); err != nil {
		_ = conn.Close()
		return nil, err
	}
	res, err := http.ReadResponse(bufio.NewReaderSize(conn, 512), nil)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusSwitchingProtocols {
		_ = conn.Close()
		return nil, fmt.Errorf("%w: status %d", ErrRefused, res.StatusCode)
	}
	_ = conn.SetDeadline(time.Time{})
	return conn, nil
}

// Result counts what a Run did.
type Result struct {
	// Opened is the number of upgrades answered with 101.
	Opened int
	// Refused is the number answered with another status.
	Refused int
	// Failed is the number that failed otherwise (dial, reset, timeout).
	Failed int
}

// Run opens n sockets through workers goroutines, calls progress (if not
// nil) after each attempt with the number of attempts so far, and returns
// the open connections, which the caller closes, and the counts.
func Run(ctx context.Context, addr, path string, n, workers int, progress func(done int)) ([]net.Conn, Result) {
	return RunFrom(ctx, nil, addr, path, n, workers, progress)
}

// RunFrom is Run with the sockets spread over the local addresses
// sources in turn (none: any).
func RunFrom(ctx context.Context, sources []netip.Addr, addr, path string, n, workers int, progress func(done int)) ([]net.Conn, Result) {
	var (
		mu    sync.Mutex
		conns []net.Conn
		res   Result
		next  int
		wg    sync.WaitGroup
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if next == n || ctx.Err() != nil {
					mu.Unlock()
					return
				}
				var src netip.Addr
				if len(sources) > 0 {
					src = sources[next%len(sources)]
				}
				next++
				mu.Unlock()
				conn, err := OpenFrom(ctx, src, addr, path)
				mu.Lock()
				switch {
				case err == nil:
					res.Opened++
					conns = append(conns, conn)
				case errors.Is(err, ErrRefused):
					res.Refused++
				default:
					res.Failed++
				}
				done := res.Opened + res.Refused + res.Failed
				mu.Unlock()
				if progress != nil {
					progress(done)
				}
			}
		}()
	}
	wg.Wait()
	return conns, res
}

// CloseAll closes conns.
func CloseAll(conns []net.Conn) {
	for _, c := range conns {
		_ = c.Close()
	}
}

package turn

import (
	"net"
	"sync"
)

// DefaultMaxAllocationsPerUser is the default Config.MaxAllocationsPerUser.
// A room's credential is shared by its two browsers. Each asks for one
// allocation per TURN URL (UDP and TCP), and again after ICE restarts,
// while old allocations live on for up to their lifetime. 32 leaves room for
// that, and bounds what a leaked credential can do.
const DefaultMaxAllocationsPerUser = 32

// DefaultMaxAllocationsPerClient is the default
// Config.MaxAllocationsPerClient: half of DefaultMaxAllocationsPerUser, so
// that one holder of a room's link, from one IP address, cannot take all of
// the room's allocations and the other side still gets 16. A browser asks
// for one allocation per TURN URL and local interface (two to six for a
// call, the in-browser connection test's two peer connections twice as
// many), so 16 leaves room for a reload and
// an ICE restart while the old allocations live on, even when therapist and
// client share one address (the local setup, one office behind one NAT).
const DefaultMaxAllocationsPerClient = DefaultMaxAllocationsPerUser / 2

// allocationCounter counts live allocations per key against a maximum. Its
// map holds only keys with live allocations.
type allocationCounter struct {
	mu  sync.Mutex
	n   map[string]int
	max int
}

func newAllocationCounter(max int) *allocationCounter {
	return &allocationCounter{n: map[string]int{}, max: max}
}

// admit reports whether key may have one more allocation.
func (u *allocationCounter) admit(key string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.n[key] < u.max
}

// add changes key's count by d (+1 created, -1 deleted).
func (u *allocationCounter) add(key string, d int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.n[key] += d; u.n[key] <= 0 {
		delete(u.n, key)
	}
}

// clientKey is the key of a credential's allocations from one client IP
// address; the port is left out, so that one client cannot multiply its
// budget with fresh sockets or TCP connections.
func clientKey(user string, client net.Addr) string {
	var ip net.IP
	switch a := client.(type) {
	case *net.UDPAddr:
		ip = a.IP
	case *net.TCPAddr:
		ip = a.IP
	}
	return user + "\x00" + ip.String()
}

package turn

import "sync"

// DefaultMaxAllocationsPerUser is the default Config.MaxAllocationsPerUser.
// A room's credential is shared by its two browsers. Each asks for one
// allocation per TURN URL (UDP and TCP), and again after ICE restarts,
// while old allocations live on for up to their lifetime. 32 leaves room for
// that, and bounds what a leaked credential can do.
const DefaultMaxAllocationsPerUser = 32

// userAllocations counts allocations per TURN username. Its map holds only
// usernames with live allocations.
type userAllocations struct {
	mu  sync.Mutex
	n   map[string]int
	max int
}

func newUserAllocations(max int) *userAllocations {
	return &userAllocations{n: map[string]int{}, max: max}
}

// admit reports whether user may have one more allocation.
func (u *userAllocations) admit(user string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.n[user] < u.max
}

// add changes user's count by d (+1 created, -1 deleted).
func (u *userAllocations) add(user string, d int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.n[user] += d; u.n[user] <= 0 {
		delete(u.n, user)
	}
}

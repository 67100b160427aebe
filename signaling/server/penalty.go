package server

import (
	"sync"
	"time"
)

// Defaults of the penalty for failed hellos (see Options).
const (
	// DefaultFreeFailures is how many failed hellos a source has before its
	// hellos wait: a person who mistyped a link a few times is not slowed.
	DefaultFreeFailures = 3
	// DefaultPenaltyBase is the first wait; each further failure doubles it.
	DefaultPenaltyBase = 250 * time.Millisecond
	// DefaultPenaltyMax caps the wait. It stays below DefaultHelloTimeout.
	DefaultPenaltyMax = 4 * time.Second
	// DefaultPenaltyForget is how long after its last failed hello a source
	// is forgotten.
	DefaultPenaltyForget = time.Minute
	// DefaultPenaltySources bounds the sources remembered; when it is
	// reached, the one that failed longest ago is forgotten first.
	DefaultPenaltySources = 4096
)

// penalties counts failed hellos (link-invalid) per source and says how
// long the next hello from that source waits before the room answers it:
// nothing for the first FreeFailures, then Base, doubling with every
// failure up to Max. Sources are pseudonyms from the front door or peer
// addresses; they are held in memory only, never logged, at most Sources
// of them, each forgotten Forget after its last failure.
type penalties struct {
	free      int
	base, max time.Duration
	forget    time.Duration
	size      int
	now       func() time.Time

	mu      sync.Mutex
	sources map[string]*failures
}

// failures is one source's failed hellos.
type failures struct {
	n    int
	last time.Time
}

func newPenalties(free int, base, max, forget time.Duration, size int, now func() time.Time) *penalties {
	return &penalties{free: free, base: base, max: max, forget: forget, size: size, now: now, sources: map[string]*failures{}}
}

// delay returns how long the next hello from src waits.
func (p *penalties) delay(src string) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.sources[src]
	if f == nil || p.now().Sub(f.last) >= p.forget || f.n < p.free {
		return 0
	}
	d := p.base
	for i := p.free; i < f.n && d < p.max; i++ {
		d *= 2
	}
	return min(d, p.max)
}

// fail counts a failed hello from src.
func (p *penalties) fail(src string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	f := p.sources[src]
	if f != nil && now.Sub(f.last) >= p.forget {
		f.n = 0
	}
	if f == nil {
		if len(p.sources) >= p.size {
			p.evictLocked(now)
		}
		f = &failures{}
		p.sources[src] = f
	}
	f.n++
	f.last = now
}

// evictLocked forgets the expired sources, or, if none has expired, the
// one that failed longest ago.
func (p *penalties) evictLocked(now time.Time) {
	var oldest string
	var oldestAt time.Time
	for src, f := range p.sources {
		if now.Sub(f.last) >= p.forget {
			delete(p.sources, src)
			continue
		}
		if oldest == "" || f.last.Before(oldestAt) {
			oldest, oldestAt = src, f.last
		}
	}
	if len(p.sources) >= p.size {
		delete(p.sources, oldest)
	}
}

package frontdoor

import (
	"net/http"
	"net/netip"
	"testing"
)

func TestSourceOfARequest(t *testing.T) {
	l := newLimiter(Limits{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}})
	tests := []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"direct IPv4 peer", "203.0.113.7:5000", nil, "203.0.113.7"},
		{"direct peer's header is ignored", "203.0.113.7:5000", []string{"198.51.100.1"}, "203.0.113.7"},
		{"IPv6 counts by its /64", "[2001:db8:1:2:aaaa::1]:5000", nil, "2001:db8:1:2::"},
		{"IPv4-mapped IPv6 is IPv4", "[::ffff:203.0.113.7]:5000", nil, "203.0.113.7"},
		{"trusted proxy: last untrusted hop", "10.1.2.3:5000", []string{"192.0.2.1, 198.51.100.1"}, "198.51.100.1"},
		{"trusted proxies chained", "10.1.2.3:5000", []string{"198.51.100.1", "10.9.9.9"}, "198.51.100.1"},
		{"trusted proxy, forwarded IPv6", "[fd00::5]:5000", []string{"2001:db8:1:2:bbbb::9"}, "2001:db8:1:2::"},
		{"trusted proxy without header", "10.1.2.3:5000", nil, "10.1.2.3"},
		{"trusted proxy, garbled hop", "10.1.2.3:5000", []string{"198.51.100.1, unknown"}, "10.1.2.3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &http.Request{RemoteAddr: tt.remote, Header: http.Header{}}
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := l.source(r); got != netip.MustParseAddr(tt.want) {
				t.Fatalf("source %s, want %s", got, tt.want)
			}
		})
	}
}

func TestLimiterCountsAndReleases(t *testing.T) {
	l := newLimiter(Limits{RequestsPerSource: 2, WebSocketsPerSource: -1, RequestsPerRoom: 3})
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	steps := []struct {
		src        netip.Addr
		room       string
		wantReason string
	}{
		{a, "r1", ""},
		{a, "r2", ""},
		{a, "r1", ReasonSource},
		{b, "r1", ""},
		{b, "r1", ""},
		{b, "r1", ReasonSource},
		{b, "r2", ReasonSource},
	}
	var releases []func()
	for i, s := range steps {
		release, reason := l.acquire(s.src, s.room, true)
		if reason != s.wantReason {
			t.Fatalf("step %d: reason %q, want %q", i, reason, s.wantReason)
		}
		if release != nil {
			releases = append(releases, release)
		}
	}
	if _, reason := l.acquire(netip.MustParseAddr("192.0.2.3"), "r1", false); reason != ReasonRoom {
		t.Fatalf("r1 holds 3: reason %q, want room", reason)
	}
	for _, r := range releases {
		r()
	}
	if len(l.sources) != 0 || len(l.rooms) != 0 {
		t.Fatalf("after release: %d sources, %d rooms remembered", len(l.sources), len(l.rooms))
	}
}

// Package turnurl checks the TURN URLs (RFC 7065) the operator hands
// browsers and puts them in the order browsers should try them: UDP first,
// then TCP, then TLS (turns:, usually on port 443).
package turnurl

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// Transports of a TURN URL: how a browser reaches the TURN server.
const (
	// UDP is turn:host:port?transport=udp (the default of turn:).
	UDP = "udp"
	// TCP is turn:host:port?transport=tcp.
	TCP = "tcp"
	// TLS is turns:host:port?transport=tcp, TURN over TLS.
	TLS = "tls"
)

// rank is the order of the transports: UDP has the least overhead and no
// head-of-line blocking; TCP passes firewalls that drop UDP; TLS on 443
// passes those that let only HTTPS through, at the highest cost.
var rank = map[string]int{UDP: 0, TCP: 1, TLS: 2}

// Transport checks one TURN URL, turn:host[:port][?transport=udp|tcp] or
// turns:host[:port][?transport=tcp], and returns its transport.
func Transport(url string) (string, error) {
	scheme, rest, ok := strings.Cut(url, ":")
	if !ok || (scheme != "turn" && scheme != "turns") {
		return "", fmt.Errorf("turn URL %q: want the scheme turn or turns", url)
	}
	hostport, query, _ := strings.Cut(rest, "?")
	if err := checkHostPort(hostport); err != nil {
		return "", fmt.Errorf("turn URL %q: %w", url, err)
	}
	transport := UDP
	if scheme == "turns" {
		transport = TCP
	}
	if query != "" {
		t, ok := strings.CutPrefix(query, "transport=")
		if !ok || (t != UDP && t != TCP) {
			return "", fmt.Errorf("turn URL %q: the only parameter is transport=udp or transport=tcp", url)
		}
		transport = t
	}
	if scheme == "turns" {
		if transport != TCP {
			return "", fmt.Errorf("turn URL %q: turns: runs over TLS on TCP (browsers offer no DTLS to TURN servers)", url)
		}
		return TLS, nil
	}
	return transport, nil
}

// checkHostPort checks host[:port]; an IPv6 address is in brackets.
func checkHostPort(hostport string) error {
	host, port := hostport, ""
	if strings.HasPrefix(hostport, "[") || strings.Count(hostport, ":") == 1 {
		h, p, err := net.SplitHostPort(hostport)
		if err != nil {
			if !strings.HasPrefix(hostport, "[") || !strings.HasSuffix(hostport, "]") {
				return fmt.Errorf("bad host and port: %w", err)
			}
			h = strings.Trim(hostport, "[]") // [v6] without a port
		}
		host, port = h, p
	}
	if host == "" || strings.ContainsAny(host, "/@ ") {
		return fmt.Errorf("no host")
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port %q is not 1-65535", port)
		}
	}
	return nil
}

// Order checks urls and returns them in the order browsers should try
// them: the UDP URLs, then TCP, then TLS, each group in the given order
// (several TURN servers' URLs stay in the order they were given). The
// first bad URL is the error.
func Order(urls []string) ([]string, error) {
	ranks := make(map[string]int, len(urls))
	for _, u := range urls {
		t, err := Transport(u)
		if err != nil {
			return nil, err
		}
		ranks[u] = rank[t]
	}
	out := slices.Clone(urls)
	slices.SortStableFunc(out, func(a, b string) int { return ranks[a] - ranks[b] })
	return out, nil
}

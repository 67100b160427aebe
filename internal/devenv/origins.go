package devenv

import (
	"net"
	"net/url"
)

// loopbackNames are the spellings of this machine's own address that a
// browser treats alike: a secure context even over plain http.
var loopbackNames = []string{"localhost", "127.0.0.1", "::1"}

// loopbackOrigins are the origins that reach the front door at base under
// another loopback name, for the rooms' origin check: a person who opens
// http://localhost:8080/r/… for a link issued for http://127.0.0.1:8080
// gets the same room, not a page that waits for ever for a WebSocket the
// room refuses. Only the local setup allows them; a base that is not on
// loopback has none.
func loopbackOrigins(base *url.URL) []string {
	host, port := base.Hostname(), base.Port()
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil
	}
	var origins []string
	for _, name := range loopbackNames {
		if name == host {
			continue
		}
		u := url.URL{Scheme: base.Scheme, Host: name}
		if port != "" {
			u.Host = net.JoinHostPort(name, port)
		} else if net.ParseIP(name).To4() == nil && name != "localhost" {
			u.Host = "[" + name + "]"
		}
		origins = append(origins, u.String())
	}
	return origins
}

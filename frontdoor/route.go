package frontdoor

import (
	"path"
	"strings"

	"github.com/sprechzimmer/sprechzimmer/internal/roomcontract"
)

// hiddenPaths are the room server's own endpoints, which belong to the
// cluster (probes, metrics), not to browsers: the front door answers them
// with the common 404 without looking the room up.
var hiddenPaths = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// roomPath is a request path split into the room id and the path the room
// server sees.
type roomPath struct {
	// id is the room id, checked for form only.
	id string
	// rest is the path below the room, starting with "/"; empty means the
	// room's bare URL without the trailing slash.
	rest string
}

// parseRoomPath splits p, a request's decoded path, into room id and rest.
// ok is false for paths outside /r/, ids that cannot be a room id, paths
// that are not in clean form (dot segments, empty segments) and the room
// server's hidden paths.
func parseRoomPath(p string) (rp roomPath, ok bool) {
	tail, found := strings.CutPrefix(p, roomcontract.PathPrefix)
	if !found {
		return roomPath{}, false
	}
	id, rest, hasRest := strings.Cut(tail, "/")
	if !roomcontract.ValidRoomID(id) {
		return roomPath{}, false
	}
	if !hasRest {
		return roomPath{id: id}, true
	}
	rest = "/" + rest
	if !isClean(rest) || hiddenPaths[rest] {
		return roomPath{}, false
	}
	return roomPath{id: id, rest: rest}, true
}

// isClean reports whether p is what path.Clean makes of it, apart from a
// trailing slash: no "." or ".." segments, no empty segments.
func isClean(p string) bool {
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c == p
}

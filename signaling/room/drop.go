package room

// DropIfWaiting gives up the place of a connection that has not been
// welcomed yet, so that a newer connection can have it; the caller closes
// the connection. A hello that arrives afterwards is ignored. It reports
// whether it did; a welcomed connection keeps its place. The check and
// the giving up are one step under the room's lock, so a connection is
// either welcomed or dropped, never welcomed and then dropped.
func (m *Member) DropIfWaiting() bool {
	r := m.room
	r.mu.Lock()
	defer r.mu.Unlock()
	if m.welcomed {
		return false
	}
	if !m.gone {
		m.gone = true
		delete(r.members, m)
	}
	return true
}

//go:build linux

package udpbatch

import (
	"encoding/binary"
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsghdr is struct mmsghdr: Go pads it as C does on every Linux
// architecture (msghdr, then an unsigned int, aligned as msghdr).
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// mmsgReader reads batches with recvmmsg(2) itself rather than through
// golang.org/x/net, whose ReadBatch allocates a net.UDPAddr and its IP for
// every datagram: the sender's address is kept as the raw sockaddr and
// turned into a netip.AddrPort, which needs no allocation.
type mmsgReader struct {
	raw   syscall.RawConn
	bufs  [][]byte
	hdrs  []mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6 // room for either family
	got   int                     // result of the last recvmmsg
	err   error
	recv  func(fd uintptr) bool // r.recvmmsg, bound once: no allocation per call
}

// newBatchReader reads conn with recvmmsg itself, or through batch where
// conn gives no raw access.
func newBatchReader(conn *net.UDPConn, batch batchConn, bufs [][]byte) batchReader {
	raw, err := conn.SyscallConn()
	if err != nil {
		return newPortableReader(batch, bufs)
	}
	r := &mmsgReader{
		raw: raw, bufs: bufs,
		hdrs: make([]mmsghdr, len(bufs)), iovs: make([]unix.Iovec, len(bufs)), names: make([]unix.RawSockaddrInet6, len(bufs)),
	}
	for i := range bufs {
		r.iovs[i].Base = &bufs[i][0]
		r.iovs[i].SetLen(len(bufs[i]))
		r.hdrs[i].hdr.Name = (*byte)(unsafe.Pointer(&r.names[i])) //nolint:gosec // recvmmsg's sockaddr buffer, kept alive by r

		r.hdrs[i].hdr.Iov = &r.iovs[i]
		r.hdrs[i].hdr.SetIovlen(1)
	}
	r.recv = r.recvmmsg
	return r
}

// recvmmsg is the syscall.RawConn read function: false asks to wait until
// the socket is readable.
func (r *mmsgReader) recvmmsg(fd uintptr) bool {
	for i := range r.hdrs {
		r.hdrs[i].hdr.Namelen = unix.SizeofSockaddrInet6
		r.hdrs[i].hdr.Flags = 0
	}
	for {
		//nolint:gosec // the mmsghdr array, kept alive by r, for the system call
		n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.hdrs[0])), uintptr(len(r.hdrs)), unix.MSG_DONTWAIT, 0, 0)
		switch errno {
		case 0:
			r.got, r.err = int(n), nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		default:
			r.got, r.err = 0, errno
		}
		return true
	}
}

// read implements batchReader.
func (r *mmsgReader) read() (int, error) {
	if err := r.raw.Read(r.recv); err != nil {
		return 0, err
	}
	if r.err != nil {
		return 0, &net.OpError{Op: "recvmmsg", Net: "udp", Err: r.err}
	}
	return r.got, nil
}

// datagram implements batchReader.
func (r *mmsgReader) datagram(i int) ([]byte, netip.AddrPort) {
	p := r.bufs[i][:min(int(r.hdrs[i].n), len(r.bufs[i]))]
	name := &r.names[i]
	var pb [2]byte // the port is in network byte order in memory
	binary.NativeEndian.PutUint16(pb[:], name.Port)
	port := binary.BigEndian.Uint16(pb[:])
	switch name.Family {
	case unix.AF_INET:
		// A sockaddr_in's address lies where a sockaddr_in6 has its flow
		// information, in memory order.
		var in4 [4]byte
		binary.NativeEndian.PutUint32(in4[:], name.Flowinfo)
		return p, netip.AddrPortFrom(netip.AddrFrom4(in4), port)
	case unix.AF_INET6:
		return p, netip.AddrPortFrom(netip.AddrFrom16(name.Addr), port)
	}
	return p, netip.AddrPort{}
}

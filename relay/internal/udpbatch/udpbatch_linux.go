package udpbatch

import (
	"encoding/binary"
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

type sysBatch struct {
	hs    [MaxBatch]unix.Mmsghdr
	iov   [MaxBatch]unix.Iovec
	names [MaxBatch]unix.RawSockaddrInet6

	// The call in progress, for the callbacks below (bound once, so a
	// call allocates nothing).
	cnt     int
	base    int
	got     int
	errno   syscall.Errno
	readFn  func(fd uintptr) bool
	writeFn func(fd uintptr) bool
}

func (s *sysBatch) init(*Batch) {
	s.readFn = s.doRead
	s.writeFn = s.doWrite
}

type sysConn struct {
	rc  syscall.RawConn
	fd6 bool // an AF_INET6 socket: IPv4 destinations go as mapped addresses
}

func (s *sysConn) init(c *net.UDPConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	s.rc = rc
	var serr error
	if err := rc.Control(func(fd uintptr) {
		var sa unix.Sockaddr
		sa, serr = unix.Getsockname(int(fd))
		_, s.fd6 = sa.(*unix.SockaddrInet6)
	}); err != nil {
		return err
	}
	return serr
}

// prepareRead points b's headers at its buffers.
func (s *sysBatch) prepareRead(ms []Msg) {
	n := min(len(ms), MaxBatch)
	for i := 0; i < n; i++ {
		buf := ms[i].Buf
		s.iov[i].Base = unsafe.SliceData(buf)
		s.iov[i].SetLen(len(buf))
		h := &s.hs[i].Hdr
		*h = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&s.names[i])), Namelen: unix.SizeofSockaddrInet6, Iov: &s.iov[i]}
		h.SetIovlen(1)
		s.hs[i].Len = 0
	}
	s.cnt, s.got, s.errno = n, 0, 0
}

func (s *sysBatch) doRead(fd uintptr) bool {
	n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&s.hs[0])), uintptr(s.cnt), unix.MSG_DONTWAIT, 0, 0)
	for e == unix.EINTR {
		n, _, e = unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&s.hs[0])), uintptr(s.cnt), unix.MSG_DONTWAIT, 0, 0)
	}
	if e == unix.EAGAIN {
		return false
	}
	s.got, s.errno = int(n), e
	return true
}

// finishRead fills in what a read returned.
func (s *sysBatch) finishRead(ms []Msg) (int, error) {
	if s.errno != 0 {
		return 0, wrap("recvmmsg", s.errno)
	}
	for i := 0; i < s.got; i++ {
		ms[i].N = int(s.hs[i].Len)
		ms[i].Addr = addrOf(&s.names[i])
	}
	return s.got, nil
}

func (s *sysConn) read(_ *net.UDPConn, b *Batch) (int, error) {
	if len(b.Msgs) == 0 {
		return 0, nil
	}
	b.sys.prepareRead(b.Msgs)
	if err := s.rc.Read(b.sys.readFn); err != nil {
		return 0, err
	}
	return b.sys.finishRead(b.Msgs)
}

type lentState struct {
	cur    *Batch
	fn     func(fd uintptr) bool
	parent *LentRead
}

func (s *sysConn) readLent(_ *net.UDPConn, lr *LentRead) (*Batch, int, error) {
	st := &lr.state
	if st.fn == nil {
		st.parent = lr
		st.fn = st.try
	}
	st.cur = nil
	if err := s.rc.Read(st.fn); err != nil {
		if st.cur != nil {
			lr.GiveBack(st.cur)
			st.cur = nil
		}
		return nil, 0, err
	}
	b := st.cur
	st.cur = nil
	n, err := b.sys.finishRead(b.Msgs)
	if err != nil {
		lr.GiveBack(b)
		return nil, 0, err
	}
	return b, n, nil
}

// try lends a batch and reads into it, or gives it back when nothing is
// queued.
func (st *lentState) try(fd uintptr) bool {
	b := st.parent.Lend()
	b.sys.prepareRead(b.Msgs)
	if !b.sys.doRead(fd) {
		st.parent.GiveBack(b)
		return false
	}
	st.cur = b
	return true
}

func (s *sysConn) write(_ *net.UDPConn, b *Batch, ms []Msg) (int, error) {
	sb := &b.sys
	n := min(len(ms), MaxBatch)
	for i := 0; i < n; i++ {
		buf := ms[i].Buf
		sb.iov[i].Base = unsafe.SliceData(buf)
		sb.iov[i].SetLen(len(buf))
		namelen := putAddr(&sb.names[i], ms[i].Addr, s.fd6)
		h := &sb.hs[i].Hdr
		*h = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&sb.names[i])), Namelen: namelen, Iov: &sb.iov[i]}
		h.SetIovlen(1)
		sb.hs[i].Len = 0
	}
	done := 0
	for done < n {
		sb.cnt, sb.got, sb.errno = n-done, 0, 0
		sb.base = done
		if err := s.rc.Write(sb.writeFn); err != nil {
			return done, err
		}
		if sb.errno != 0 {
			return done, wrap("sendmmsg", sb.errno)
		}
		done += sb.got
	}
	return done, nil
}

func (s *sysBatch) doWrite(fd uintptr) bool {
	n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&s.hs[s.base])), uintptr(s.cnt), unix.MSG_DONTWAIT, 0, 0)
	for e == unix.EINTR {
		n, _, e = unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&s.hs[s.base])), uintptr(s.cnt), unix.MSG_DONTWAIT, 0, 0)
	}
	if e == unix.EAGAIN {
		return false
	}
	s.got, s.errno = int(n), e
	return true
}

func addrOf(sa *unix.RawSockaddrInet6) netip.AddrPort {
	switch sa.Family {
	case unix.AF_INET:
		s4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&s4.Port))[:])
		return netip.AddrPortFrom(netip.AddrFrom4(s4.Addr), port)
	case unix.AF_INET6:
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), port)
	}
	return netip.AddrPort{}
}

// putAddr writes ap as a socket address for an AF_INET or AF_INET6
// socket and returns its length.
func putAddr(sa *unix.RawSockaddrInet6, ap netip.AddrPort, fd6 bool) uint32 {
	var port [2]byte
	binary.BigEndian.PutUint16(port[:], ap.Port())
	if !fd6 {
		if !ap.Addr().Unmap().Is4() {
			// Not reachable from an IPv4 socket: the send fails alone.
			*sa = unix.RawSockaddrInet6{}
			return 0
		}
		s4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		*s4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: ap.Addr().Unmap().As4()}
		*(*[2]byte)(unsafe.Pointer(&s4.Port)) = port
		return unix.SizeofSockaddrInet4
	}
	a := ap.Addr()
	if !a.IsValid() {
		*sa = unix.RawSockaddrInet6{}
		return 0
	}
	*sa = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: a.As16()}
	*(*[2]byte)(unsafe.Pointer(&sa.Port)) = port
	return unix.SizeofSockaddrInet6
}

func wrap(op string, e syscall.Errno) error {
	return &net.OpError{Op: op, Net: "udp", Err: e}
}

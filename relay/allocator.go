package relay

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"sync"

	"github.com/meridian-traffic/meridian/relay/internal/udpbatch"
)

// allocGate carries the authenticated user and client of an Allocate
// request from a listener wrapper to the allocator pion calls while it
// handles that request. pion's RelayAddressGenerator sees neither.
//
// The wrapper locks the gate when it hands an Allocate request to pion and
// unlocks it on its next read: pion handles a request synchronously between
// two reads of the same connection, so the allocator runs inside the
// locked span on the same goroutine.
type allocGate struct {
	mu     sync.Mutex
	user   string
	client netip.AddrPort
	link   clientLink
}

// hold locks the gate for one Allocate request.
func (g *allocGate) hold(user string, client netip.AddrPort, link clientLink) {
	g.mu.Lock()
	g.user, g.client, g.link = user, client, link
}

// release unlocks a held gate.
func (g *allocGate) release() {
	g.user, g.client, g.link = "", netip.AddrPort{}, nil
	g.mu.Unlock()
}

// allocator makes relayed sockets for one listener.
type allocator struct {
	r    *Relay
	gate *allocGate
}

// allocateRetries is how many random ports are tried before giving up.
const allocateRetries = 32

// allocatePacketConn binds a relayed UDP socket in the port range. A
// requested port (EVEN-PORT probing) is bound as asked.
func (a *allocator) allocatePacketConn(network string, requestedPort int) (net.PacketConn, net.Addr, error) {
	r := a.r
	g := a.gate
	if g.link == nil {
		// Not inside a gated Allocate: pion probing for an even port.
		return nil, nil, fmt.Errorf("allocate outside an allocate request: %w", ErrNoPort)
	}
	if reason := r.quotaReason(g.user); reason != "" {
		r.refuse(reason)
		if reason == ReasonNodeQuota {
			return nil, nil, ErrNodeQuota
		}
		return nil, nil, ErrUserQuota
	}
	if r.cfg.ListenAddress.Is6() {
		network = "udp6"
	} else {
		network = "udp4"
	}
	conf := r.conf()
	lo, hi := conf.Relay.PortMin, conf.Relay.PortMax
	var udp *net.UDPConn
	var lastErr error
	for try := 0; try < allocateRetries && udp == nil; try++ {
		port := requestedPort
		if port == 0 {
			port = lo + rand.IntN(hi-lo+1)
		}
		addr := net.JoinHostPort(r.cfg.ListenAddress.String(), strconv.Itoa(port))
		ua, err := net.ResolveUDPAddr(network, addr)
		if err != nil {
			return nil, nil, fmt.Errorf("relay address %s: %w", addr, err)
		}
		udp, lastErr = net.ListenUDP(network, ua)
		if requestedPort != 0 {
			break
		}
	}
	if udp == nil {
		return nil, nil, fmt.Errorf("%w in %d-%d: %w", ErrNoPort, lo, hi, lastErr)
	}
	bound := udp.LocalAddr().(*net.UDPAddr).AddrPort()
	bound = netip.AddrPortFrom(bound.Addr().Unmap(), bound.Port())
	c := &relayConn{
		r:      r,
		udp:    udp,
		bound:  bound,
		local:  netip.AddrPortFrom(r.cfg.Address, bound.Port()),
		link:   g.link,
		client: g.client,
		user:   g.user,
		start:  r.cfg.Now(),
	}
	if bc, err := udpbatch.New(udp); err == nil {
		c.bc = bc
		c.lent = udpbatch.LentRead{Lend: c.lendPeerBatch, GiveBack: c.givePeerBatch}
	} else {
		c.rbuf = make([]byte, 4+maxRelayPacket+3)
	}
	c.bucket.Store(newBucket(conf.Relay.AllocationBPS, r.cfg.Now()))
	if err := r.register(c); err != nil {
		_ = udp.Close()
		return nil, nil, err
	}
	g.link.attach(g.client, c)
	r.log.Debug("allocation", "id", c.id, "user", c.user, "client", c.client, "relayed", c.local)
	return c, net.UDPAddrFromAddrPort(c.local), nil
}

// register adds c to the registry, rechecking the quotas under the lock.
func (r *Relay) register(c *relayConn) error {
	q := r.conf().Relay
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case q.MaxAllocations > 0 && len(r.live) >= q.MaxAllocations:
		r.refuse(ReasonNodeQuota)
		return ErrNodeQuota
	case q.MaxAllocationsPerUser > 0 && r.perUser[c.user] >= q.MaxAllocationsPerUser:
		r.refuse(ReasonUserQuota)
		return ErrUserQuota
	}
	r.nextID++
	c.id = r.nextID
	r.live[c.id] = c
	r.perUser[c.user]++
	r.conns[c.local] = c
	r.conns[c.bound] = c
	r.allocs.Add(1)
	return nil
}

// release removes a closed allocation and keeps its accounting.
func (r *Relay) release(c *relayConn) {
	st := c.stats()
	st.End = r.cfg.Now()
	r.mu.Lock()
	if r.live[c.id] == c {
		delete(r.live, c.id)
		if r.perUser[c.user]--; r.perUser[c.user] <= 0 {
			delete(r.perUser, c.user)
		}
		if r.conns[c.local] == c {
			delete(r.conns, c.local)
		}
		if r.conns[c.bound] == c {
			delete(r.conns, c.bound)
		}
		r.ended.toPeerBytes += st.ToPeerBytes
		r.ended.toPeerPackets += st.ToPeerPackets
		r.ended.toClientBytes += st.ToClientBytes
		r.ended.toClientPackets += st.ToClientPackets
		r.ended.dropped += st.Dropped
	}
	r.mu.Unlock()
	r.gen.Add(1)
	r.log.Debug("allocation ended", "id", st.ID, "user", st.User, "to_peer_bytes", st.ToPeerBytes, "to_client_bytes", st.ToClientBytes)
	if f := r.cfg.OnAllocationEnd; f != nil {
		f(st)
	}
}

package meridian

import (
	"encoding/binary"
	"hash/maphash"
	"math"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coredns/coredns/plugin/metrics"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"

	"github.com/meridian-traffic/meridian/cluster"
)

// The wire cache holds packed answers, so that a repeated question is
// answered by copying bytes: no engine decision, no GeoIP lookup, no
// dns.Msg to build or pack. An entry holds the answer as the server would
// pack it, less what differs between queries: the ID, the RD and CD flags
// and the question's letter case are patched in, and the OPT record (the
// query's buffer size, DO bit and echoed ECS option) is appended.
//
// Keys: the view (a new snapshot is a new view, so an entry of an older
// one is a miss: a health or configuration change reaches the first query
// after it), the lower-case name, the type, and for the traffic hostname's
// addresses the client network exactly as the engine reads it (the masked
// address and its source prefix length). The answer for a client network
// is a function of those alone, and of the time for timezone decisions,
// which are kept only until the next UTC offset change of a zone they read
// (cluster.Engine.Steady). Explain answers are not cached.
//
// The table is direct-mapped with two slots per key: a collision replaces
// an entry, memory stays bounded whatever the clients.
const (
	wireBits  = 17
	wireSlots = 1 << wireBits
	// wireMax is the largest answer written from the cache: over it the
	// server's scrub could compress the answer for UDP (1220 bytes,
	// CoreDNS's IPv6 limit), so such answers take the packing path.
	wireMax = 1220
)

type wireCache struct {
	seed     maphash.Seed
	slots    [wireSlots]atomic.Pointer[wireEntry]
	bufs     sync.Pool                  // *[]byte
	failOpen atomic.Pointer[counterRef] // the first server's fail-open counter
}

func newWireCache() *wireCache {
	c := &wireCache{seed: maphash.MakeSeed()}
	c.bufs.New = func() any { b := make([]byte, 0, 512); return &b }
	return c
}

// wireEntry is one cached answer.
type wireEntry struct {
	v     *view
	name  string // lower-case
	qtype uint16
	addr  netip.Addr // the client network; the zero Addr when the answer is the same for every client
	bits  int

	body  []byte // the answer without OPT record: ID 0, RD and CD clear, lower-case question
	rcode int
	rule  rule
	scope int // the ECS scope of the answer

	// A timezone decision holds in [from, until) (Unix nanoseconds of
	// the wall clock, as the engine reads it); timed is false for every
	// other answer, which holds for the whole view.
	timed       bool
	from, until int64

	// The traffic answer's metrics, replayed on each hit.
	failOpen bool
	nodes    []*cluster.Node
	rrs      []*nodeRRs
}

// noClient is the key of answers that do not depend on the client.
const noClient = -1

func (c *wireCache) slot(v *view, name string, qtype uint16, addr netip.Addr, bits int) uint64 {
	h := maphash.String(c.seed, name)
	a := addr.As16()
	h ^= binary.LittleEndian.Uint64(a[:8]) * 0x9e3779b97f4a7c15
	h ^= binary.LittleEndian.Uint64(a[8:]) * 0xc2b2ae3d27d4eb4f
	h ^= uint64(qtype)<<32 | uint64(uint16(bits))
	h ^= h >> 29
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 32
	return h & (wireSlots - 1) &^ 1
}

func (c *wireCache) get(v *view, name string, qtype uint16, addr netip.Addr, bits int) *wireEntry {
	s := c.slot(v, name, qtype, addr, bits)
	for i := range uint64(2) {
		e := c.slots[s|i].Load()
		if e != nil && e.v == v && e.qtype == qtype && e.bits == bits && e.addr == addr && e.name == name {
			if e.timed {
				if now := time.Now().UnixNano(); now < e.from || now >= e.until {
					return nil
				}
			}
			return e
		}
	}
	return nil
}

func (c *wireCache) put(e *wireEntry) {
	s := c.slot(e.v, e.name, e.qtype, e.addr, e.bits)
	// The slot of the same key (an expired entry), else the first that is
	// empty or holds an older view's entry, else the second (the first
	// keeps the older, longer-lived entry).
	for i := range uint64(2) {
		if old := c.slots[s|i].Load(); old != nil && old.v == e.v && old.qtype == e.qtype &&
			old.bits == e.bits && old.addr == e.addr && old.name == e.name {
			c.slots[s|i].Store(e)
			return
		}
	}
	for i := range uint64(2) {
		if old := c.slots[s|i].Load(); old == nil || old.v != e.v {
			c.slots[s|i].Store(e)
			return
		}
	}
	c.slots[s|1].Store(e)
}

// wireWriter returns the writer to write packed answers to, and the
// prometheus plugin's recorder to tell the rcode to (nil when absent). It
// reports false unless the writer is CoreDNS's ScrubWriter, possibly under
// the prometheus plugin's recorder: no other plugin sees a written answer,
// so writing bytes skips nothing but the server's own scrub, which the
// cache does itself (see fits).
func wireWriter(w dns.ResponseWriter) (dns.ResponseWriter, *dnstest.Recorder, bool) {
	inner := w
	var rec *dnstest.Recorder
	if mr, ok := w.(*metrics.Recorder); ok && mr.Recorder != nil {
		rec, inner = mr.Recorder, mr.Recorder.ResponseWriter
	}
	_, ok := inner.(*request.ScrubWriter)
	return w, rec, ok
}

// wireable reports whether a query can be answered from the cache: one
// plain question of class IN, opcode QUERY, and no additional record but
// an OPT record.
func wireable(r *dns.Msg) bool {
	if r.Opcode != dns.OpcodeQuery || r.Question[0].Qclass != dns.ClassINET {
		return false
	}
	if len(r.Extra) > 1 || len(r.Extra) == 1 && r.Extra[0].Header().Rrtype != dns.TypeOPT {
		return false
	}
	name := r.Question[0].Name
	return len(name) > 0 && len(name) <= 255 && name[len(name)-1] == '.' && strings.IndexByte(name, '\\') < 0
}

// wireKey returns the cache key of a question's client, and whether the
// answer can be cached at all. It follows the name's CNAMEs as answer
// does: an alias of the traffic hostname answers per client too.
func wireKey(v *view, o *owned, qtype uint16, c querier) (netip.Addr, int, bool) {
	for depth := 0; o != nil; depth++ {
		if o.apex && (qtype == dns.TypeSOA || qtype == dns.TypeNS) {
			break
		}
		if cname := o.static[dns.TypeCNAME]; cname != nil && qtype != dns.TypeCNAME {
			if depth >= maxAlias {
				break
			}
			o = v.names[strings.ToLower(cname[0].(*dns.CNAME).Target)]
			continue
		}
		switch o.kind {
		case kindTraffic:
			if qtype == dns.TypeA || qtype == dns.TypeAAAA || qtype == dns.TypeANY {
				return c.addr, c.bits, true
			}
		case kindExplain:
			if qtype == dns.TypeTXT || qtype == dns.TypeANY {
				return netip.Addr{}, 0, false
			}
		}
		break
	}
	return netip.Addr{}, noClient, true
}

// serveWire answers from the wire cache, filling it on a miss. It reports
// false, having written and counted nothing, when the query or the writer
// does not allow it; ServeDNS then answers by packing.
func (m *Meridian) serveWire(w dns.ResponseWriter, r *dns.Msg, v *view, o *owned, qname string, qtype uint16, c querier, server string) bool {
	if m.wire == nil || !wireable(r) {
		return false
	}
	w, rec, ok := wireWriter(w)
	if !ok {
		return false
	}
	addr, bits, cacheable := wireKey(v, o, qtype, c)
	if !cacheable {
		return false
	}
	if e := m.wire.get(v, qname, qtype, addr, bits); e != nil {
		if !m.writeWire(w, rec, r, e, c) {
			return false
		}
		m.countRequest(server, qtype, e.rule)
		if e.failOpen {
			m.countFailOpen(server)
		}
		for i, n := range e.nodes {
			m.countAnswer(server, e.rrs[i], n.Name)
		}
		return true
	}
	// A miss: answer as ServeDNS does (which counts), keep the packed
	// answer, and write it as a hit would.
	e := m.newWireEntry(v, qname, qtype, c, addr, bits)
	a := reply(r)
	rule, scope := m.answer(v, o, qtype, c, a, server)
	m.countRequest(server, qtype, rule)
	if e != nil && e.keep(a, rule, scope) {
		m.wire.put(e)
		if m.writeWire(w, rec, r, e, c) {
			return true
		}
	}
	addOPT(r, a, c, scope)
	w.WriteMsg(a)
	return true
}

// newWireEntry starts the cache entry of a question, before the answer is
// made; nil when the answer is not to be cached.
func (m *Meridian) newWireEntry(v *view, qname string, qtype uint16, c querier, addr netip.Addr, bits int) *wireEntry {
	e := &wireEntry{v: v, name: qname, qtype: qtype, addr: addr, bits: bits}
	if bits == noClient {
		return e
	}
	// The decision the answer will come from, for its metrics and for how
	// long it holds: made before the answer's own, the answer's instant
	// falls in the interval unless the interval has ended by the time the
	// answer is kept (keep checks).
	d := m.decs.Get().(*cluster.Decision)
	defer m.decs.Put(d)
	q := c.query(time.Now())
	v.eng.Select(q, d)
	if from, until := v.eng.Steady(q, d); !from.IsZero() || !until.IsZero() {
		e.timed, e.from, e.until = true, math.MinInt64, math.MaxInt64
		if !from.IsZero() {
			e.from = from.UnixNano()
		}
		if !until.IsZero() {
			e.until = until.UnixNano()
		}
	}
	e.failOpen = d.Pool == cluster.PoolFailOpen
	if !d.Anycast {
		for _, n := range d.Chosen() {
			rrs := v.nodes[n]
			if rrs == nil {
				return nil
			}
			e.nodes, e.rrs = append(e.nodes, n), append(e.rrs, rrs)
		}
	}
	return e
}

// keep packs the answer a into e and reports whether e is to be cached.
func (e *wireEntry) keep(a *dns.Msg, rule rule, scope int) bool {
	if e.timed && time.Now().UnixNano() >= e.until {
		return false // a time zone transition since the decision
	}
	e.rule, e.scope, e.rcode = rule, scope, a.Rcode
	// The answer as the server packs it (uncompressed: it fits), less
	// what writeWire patches in.
	p := *a
	p.Id, p.RecursionDesired, p.CheckingDisabled, p.Compress = 0, false, false, false
	p.Question = []dns.Question{{Name: e.name, Qtype: e.qtype, Qclass: dns.ClassINET}}
	if n := len(p.Extra); n > 0 && p.Extra[n-1].Header().Rrtype == dns.TypeOPT {
		p.Extra = p.Extra[:n-1]
	}
	body, err := p.Pack()
	if err != nil {
		return false
	}
	e.body = body
	return true
}

// fits reports whether an answer of n bytes goes out as packed: within the
// client's buffer (CoreDNS's request.Size: 512 bytes without EDNS, the
// advertised size with it, no limit over TCP) and under the size at which
// the server's scrub compresses UDP answers.
func fits(n int, r *dns.Msg, tcp bool) bool {
	if tcp {
		return n <= dns.MaxMsgSize
	}
	size := dns.MinMsgSize
	if o := r.IsEdns0(); o != nil {
		size = max(size, int(o.UDPSize()))
	}
	return n <= size && n <= wireMax
}

// writeWire writes e for r: the cached bytes with the query's ID, RD and
// CD flags and question letter case, and the OPT record when the query had
// EDNS. It reports false, writing nothing, when the answer would not fit.
func (m *Meridian) writeWire(w dns.ResponseWriter, rec *dnstest.Recorder, r *dns.Msg, e *wireEntry, c querier) bool {
	bp := m.wire.bufs.Get().(*[]byte)
	defer m.wire.bufs.Put(bp)
	b := append((*bp)[:0], e.body...)
	binary.BigEndian.PutUint16(b[0:], r.Id)
	if r.RecursionDesired {
		b[2] |= 0x01
	}
	if r.CheckingDisabled {
		b[3] |= 0x10
	}
	// The question as asked: same name but for the letter case.
	j := 12
	for _, ch := range []byte(r.Question[0].Name) {
		j++
		if ch != '.' {
			b[j] = ch
		}
	}
	if o := r.IsEdns0(); o != nil {
		b = appendOPT(b, o, c, e.scope)
		binary.BigEndian.PutUint16(b[10:], binary.BigEndian.Uint16(b[10:])+1)
	}
	*bp = b
	_, tcp := w.RemoteAddr().(*net.TCPAddr)
	if !fits(len(b), r, tcp) {
		return false
	}
	if rec != nil {
		rec.Rcode = e.rcode
	}
	w.Write(b)
	return true
}

// appendOPT appends the answer's OPT record as replyOPT and CoreDNS's
// SizeAndDo make it: version 0, the query's buffer size, the DO bit kept,
// and the query's ECS option with the answer's scope.
func appendOPT(b []byte, o *dns.OPT, c querier, scope int) []byte {
	var do byte
	if o.Do() {
		do = 0x80
	}
	b = append(b, 0, 0, byte(dns.TypeOPT), byte(o.UDPSize()>>8), byte(o.UDPSize()), 0, 0, do, 0)
	if c.ecs == nil {
		return append(b, 0, 0)
	}
	e := c.ecs
	n := 0 // address bytes
	limit := 0
	switch e.Family {
	case familyIPv4, familyIPv6:
		n, limit = (int(e.SourceNetmask)+7)/8, c.addr.BitLen()
	}
	scope = min(max(scope, 0), limit)
	b = append(b, 0, byte(8+n), 0, byte(dns.EDNS0SUBNET), 0, byte(4+n),
		byte(e.Family>>8), byte(e.Family), e.SourceNetmask, byte(scope))
	if n > 0 {
		a := c.addr.As16()
		if c.addr.Is4() {
			b = append(b, a[12:12+n]...)
		} else {
			b = append(b, a[:n]...)
		}
	}
	return b
}

// countFailOpen counts a fail-open traffic answer from the cache, with the
// counter cached for the first server as countRequest does.
func (m *Meridian) countFailOpen(server string) {
	if c := m.counters.Load(); c != nil && c.server == server {
		ref := m.wire.failOpen.Load()
		if ref == nil {
			ref = &counterRef{failOpenCount.WithLabelValues(server)}
			m.wire.failOpen.Store(ref)
		}
		ref.c.Inc()
		return
	}
	failOpenCount.WithLabelValues(server).Inc()
}

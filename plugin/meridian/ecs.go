package meridian

import (
	"net/netip"

	"github.com/miekg/dns"
)

// ECS address families (RFC 7871 section 6, IANA address family numbers).
const (
	familyNone = 0 // only with source prefix 0: "do not use my address"
	familyIPv4 = 1
	familyIPv6 = 2
)

// querier is who a query is answered for: the EDNS Client Subnet prefix when
// the query carries one, else the source address.
type querier struct {
	addr netip.Addr // masked to bits
	bits int        // the source prefix length; the full length without ECS
	ecs  *dns.EDNS0_SUBNET
}

// ednsError names why a query's OPT record or ECS option is malformed; it
// is the reason label of the malformed request metric.
type ednsError string

func (e ednsError) Error() string { return "malformed EDNS: " + string(e) }

// Reasons a query is answered FORMERR.
const (
	errOPTMany    ednsError = "more than one OPT record"
	errOPTOwner   ednsError = "OPT record not owned by the root"
	errECSMany    ednsError = "more than one option"
	errECSFamily  ednsError = "unknown family"
	errECSPrefix  ednsError = "source prefix too long"
	errECSAddress ednsError = "address does not match the family"
	errECSLength  ednsError = "address length does not match the source prefix"
	errECSBits    ednsError = "address bits set beyond the source prefix"
)

// clientOf returns the client of a query. source is the query's source
// address. A malformed OPT record (RFC 6891 section 6.1.1: more than one,
// or one not owned by the root) or ECS option (RFC 7871 section 7.1.1) is
// an error: the query is answered FORMERR.
func clientOf(r *dns.Msg, source netip.Addr) (querier, error) {
	source = source.Unmap()
	c := querier{addr: source, bits: source.BitLen()}
	opt := r.IsEdns0()
	if opt == nil {
		return c, nil
	}
	if opt.Hdr.Name != "." {
		return c, errOPTOwner
	}
	opts := 0
	for _, rr := range r.Extra {
		if rr.Header().Rrtype == dns.TypeOPT {
			opts++
		}
	}
	if opts > 1 {
		return c, errOPTMany
	}
	for _, o := range opt.Option {
		e, ok := o.(*dns.EDNS0_SUBNET)
		if !ok {
			continue
		}
		if c.ecs != nil {
			return c, errECSMany
		}
		addr, err := validECS(e)
		if err != nil {
			return c, err
		}
		c = querier{addr: addr, bits: int(e.SourceNetmask), ecs: e}
	}
	if c.ecs != nil && !wireLengthMatches(opt) {
		return c, errECSLength
	}
	return c, nil
}

// wireLengthMatches reports whether an OPT record read from the wire held
// exactly the ECS address bytes its source prefix needs. miekg/dns reads
// the address into a whole IPv4 or IPv6 address, padding a short one and
// dropping bytes past a long one, so only the record's data length still
// tells: it must equal the options' lengths with the ECS address at its
// RFC 7871 length (section 6: a server SHOULD return FORMERR for too few or
// too many address octets). A record built in memory has no data length
// and is not checked.
func wireLengthMatches(opt *dns.OPT) bool {
	if opt.Hdr.Rdlength == 0 {
		return true
	}
	n := 0
	for _, o := range opt.Option {
		n += 4 + optionLen(o)
	}
	return n == int(opt.Hdr.Rdlength)
}

// optionLen is the data length of an option on the wire: for ECS the one
// RFC 7871 prescribes, for the others the length it was read from (what
// miekg/dns packs it back to).
func optionLen(o dns.EDNS0) int {
	switch o := o.(type) {
	case *dns.EDNS0_SUBNET:
		if o.Family == familyNone {
			return 4
		}
		return 4 + (int(o.SourceNetmask)+7)/8
	case *dns.EDNS0_COOKIE:
		return len(o.Cookie) / 2 // hex
	case *dns.EDNS0_NSID:
		return len(o.Nsid) / 2 // hex
	case *dns.EDNS0_PADDING:
		return len(o.Padding)
	case *dns.EDNS0_LOCAL:
		return len(o.Data)
	}
	// Rare options: pack a record holding only this one. Its length is
	// the root name, ten bytes of fixed fields and the option's header.
	return dns.Len(&dns.OPT{Hdr: dns.RR_Header{Name: "."}, Option: []dns.EDNS0{o}}) - 1 - 10 - 4
}

// validECS checks one option and returns its address.
func validECS(e *dns.EDNS0_SUBNET) (netip.Addr, error) {
	bits := int(e.SourceNetmask)
	var addr netip.Addr
	switch e.Family {
	case familyNone:
		// dig sends family 0 with prefix 0 for "+subnet=0": no address at
		// all, so the answer must not depend on the client.
		if bits != 0 {
			return addr, errECSFamily
		}
		return netip.IPv4Unspecified(), nil
	case familyIPv4:
		if bits > 32 {
			return addr, errECSPrefix
		}
		ip4 := e.Address.To4()
		if ip4 == nil {
			return addr, errECSAddress
		}
		addr = netip.AddrFrom4([4]byte(ip4))
	case familyIPv6:
		if bits > 128 {
			return addr, errECSPrefix
		}
		if len(e.Address) != 16 {
			return addr, errECSAddress
		}
		addr = netip.AddrFrom16([16]byte(e.Address))
	default:
		return addr, errECSFamily
	}
	if netip.PrefixFrom(addr, bits).Masked().Addr() != addr {
		return addr, errECSBits
	}
	return addr, nil
}

// echoECS returns the ECS option of an answer: the query's family, source
// prefix and address, with the scope the answer depended on. It reuses the
// query's option, which is not read after this.
func (c querier) echoECS(scope int) *dns.EDNS0_SUBNET {
	e := c.ecs
	limit := c.addr.BitLen()
	if e.Family == familyNone {
		limit = 0
	}
	e.SourceScope = uint8(min(max(scope, 0), limit))
	return e
}

package dns

import "encoding/binary"

// Meridian patch (see MERIDIAN.md): RFC 6891 section 7 wants an OPT record
// in the answer to every request that has one, FORMERR included, and RFC
// 7871 section 7.2.1 wants FORMERR with OPT for a malformed ECS option.
// serveDNS answers a request it cannot unpack itself, before any handler,
// so the OPT record is added here, for UDP and TCP alike; and a program
// can refuse requests that unpack but are malformed in the same way, in
// every server, through DefaultMsgCheckFunc.

// DefaultMsgCheckFunc, when set, checks every request that unpacks before
// any handler sees it: an error answers the request FORMERR (with an OPT
// record when it has one) and goes to the server's MsgInvalidFunc. Set it
// before the servers start.
var DefaultMsgCheckFunc func(m *Msg) error

func checkRequest(m *Msg) error {
	if f := DefaultMsgCheckFunc; f != nil {
		return f(m)
	}
	return nil
}

// formerrUDPSize is the UDP payload size the FORMERR's OPT record offers.
const formerrUDPSize = 1232

// formerrOPT is the OPT record of a FORMERR answer: version 0, no flags,
// no options.
func formerrOPT() *OPT {
	o := &OPT{Hdr: RR_Header{Name: ".", Rrtype: TypeOPT}}
	o.SetUDPSize(formerrUDPSize)
	return o
}

// requestHasOPT reports whether the additional section of the raw request
// msg, whose header dh ends at off, holds an OPT record. It reads lengths
// and types only, allocates nothing and stops at the end of msg: the
// records themselves may not parse, and any request can get here.
func requestHasOPT(msg []byte, dh Header, off int) bool {
	if dh.Arcount == 0 {
		return false
	}
	for i := 0; i < int(dh.Qdcount); i++ {
		end, ok := skipName(msg, off)
		if !ok || end+4 > len(msg) {
			return false
		}
		off = end + 4 // type and class
	}
	before := int(dh.Ancount) + int(dh.Nscount)
	for i := 0; i < before+int(dh.Arcount); i++ {
		end, ok := skipName(msg, off)
		if !ok || end+10 > len(msg) {
			return false
		}
		if i >= before && binary.BigEndian.Uint16(msg[end:]) == TypeOPT {
			return true
		}
		off = end + 10 + int(binary.BigEndian.Uint16(msg[end+8:])) // type, class, TTL, length, data
	}
	return false
}

// skipName returns the offset after the domain name at off: its labels up
// to the root label or a compression pointer, which ends it.
func skipName(msg []byte, off int) (int, bool) {
	for range maxDomainNameWireOctets / 2 { // at most 127 labels, and the root
		if off >= len(msg) {
			return 0, false
		}
		switch c := int(msg[off]); c & 0xC0 {
		case 0x00:
			if c == 0 {
				return off + 1, true
			}
			off += 1 + c
		case 0xC0:
			return off + 2, off+2 <= len(msg)
		default:
			return 0, false // extended label types are not used
		}
	}
	return 0, false
}

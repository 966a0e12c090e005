package dns

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
// msg, whose header dh ends at off, holds an OPT record. It reads names,
// types and lengths only: the records themselves may not parse.
func requestHasOPT(msg []byte, dh Header, off int) bool {
	for i := 0; i < int(dh.Qdcount); i++ {
		_, end, err := UnpackDomainName(msg, off)
		if err != nil || end+4 > len(msg) {
			return false
		}
		off = end + 4 // type and class
	}
	before := int(dh.Ancount) + int(dh.Nscount)
	for i := 0; i < before+int(dh.Arcount) && off < len(msg); i++ {
		h, end, _, err := unpackHeader(msg, off)
		if err != nil {
			return false
		}
		if i >= before && h.Rrtype == TypeOPT {
			return true
		}
		off = end + int(h.Rdlength)
	}
	return false
}

package meridian

import (
	"errors"
	"net/netip"
	"sync"

	"github.com/miekg/dns"
)

// A query with a malformed ECS option is answered FORMERR with an OPT
// record (RFC 6891 section 7, RFC 7871 section 7.2.1). The plugin checks
// the queries that reach it (clientOf). Two kinds never do:
//   - queries the DNS library cannot read at all (an ECS option of an
//     unknown family, a prefix longer than its family, an option shorter
//     than its header): the library's server answers them FORMERR itself;
//   - queries in server blocks without the plugin.
// `meridian dns` builds with a DNS library whose server keeps the OPT
// record in its own FORMERR and runs a request check before any server
// block (third_party/miekg-dns); it installs CheckEDNS there, so that every
// block of the process refuses malformed options alike. Other CoreDNS
// builds get the plugin's own checks.

var installCounterOnce sync.Once

// installRefusalCounter counts, through the library's process-wide
// invalid-message hook, the queries its server refused: by the ECS rule a
// query broke, else as unreadable.
func installRefusalCounter() {
	installCounterOnce.Do(func() {
		prev := dns.DefaultMsgInvalidFunc
		dns.DefaultMsgInvalidFunc = func(m []byte, err error) {
			var e ednsError
			if errors.As(err, &e) {
				malformedCount.WithLabelValues("", string(e)).Inc()
			} else {
				unreadableCount.Inc()
			}
			if prev != nil {
				prev(m, err)
			}
		}
	})
}

// CheckEDNS returns an error for a query whose OPT record (RFC 6891
// section 6.1.1) or ECS option (RFC 7871 section 6) is malformed: the
// plugin's rules as a request check for the DNS library's server.
func CheckEDNS(m *dns.Msg) error {
	_, err := clientOf(m, netip.Addr{})
	return err
}

package meridian

import (
	"errors"
	"net/netip"
	"sync"

	"github.com/miekg/dns"
)

// Malformed requests are refused by the DNS library's server, before a
// server block is chosen, so that every block of the process answers them
// alike, over UDP and TCP: FORMERR, with an OPT record when the request
// had one (RFC 6891 section 7, RFC 7871 section 7.2.1). Two kinds reach
// that answer:
//   - requests the library cannot read at all (an ECS option of an unknown
//     family, a prefix longer than its family, an option shorter than its
//     header);
//   - requests it reads whose ECS option is malformed all the same (RFC
//     7871 section 6: address bytes or bits that do not match the source
//     prefix, two options): the library's request check runs the plugin's
//     ECS rules on every request.
// Both hooks are process-wide in the library, so they are installed once
// per process, by the first server block with the plugin.

var installHooksOnce sync.Once

// installRequestHooks sets the library's request check to the plugin's
// ECS rules and counts what its invalid-message hook is given.
func installRequestHooks() {
	installHooksOnce.Do(func() {
		dns.DefaultMsgCheckFunc = checkECS
		prev := dns.DefaultMsgInvalidFunc
		dns.DefaultMsgInvalidFunc = func(m []byte, err error) {
			countRefused(err)
			if prev != nil {
				prev(m, err)
			}
		}
	})
}

// checkECS refuses a request whose ECS option is malformed.
func checkECS(m *dns.Msg) error {
	_, err := clientOf(m, netip.Addr{})
	return err
}

// countRefused counts a request the library refused: by the ECS rule it
// broke, else as unreadable.
func countRefused(err error) {
	var e ecsError
	if errors.As(err, &e) {
		malformedCount.WithLabelValues("", string(e)).Inc()
		return
	}
	unreadableCount.Inc()
}

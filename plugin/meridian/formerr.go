package meridian

import (
	"sync"

	"github.com/miekg/dns"
)

// A request the DNS library cannot read at all (an ECS option of an
// unknown family, a prefix longer than its family, an option shorter than
// its header) never reaches a plugin: the library answers FORMERR itself,
// with an OPT record when the request had one (RFC 6891 section 7, RFC
// 7871 section 7.2.1), over UDP and TCP and in every server block. Its
// invalid-message hook, process-wide like the library's default, is where
// such requests are counted.

var installCounterOnce sync.Once

// installUnreadableCounter chains the library's invalid-message hook once
// per process.
func installUnreadableCounter() {
	installCounterOnce.Do(func() {
		prev := dns.DefaultMsgInvalidFunc
		dns.DefaultMsgInvalidFunc = func(m []byte, err error) {
			unreadableCount.Inc()
			if prev != nil {
				prev(m, err)
			}
		}
	})
}

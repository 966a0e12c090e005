package testkit

import (
	"fmt"
	"strings"
)

// TCPHealth is a site health block that probes over TCP every 250 ms with
// rise and fall 2.
const TCPHealth = "health: {kind: tcp, interval: 250ms, timeout: 200ms, rise: 2, fall: 2}"

// HTTPHealth is a site health block that probes /healthz over HTTP every
// 250 ms with rise and fall 1, so that tests see changes quickly.
const HTTPHealth = "health: {kind: http, path: /healthz, interval: 250ms, timeout: 200ms, rise: 1, fall: 1}"

// SiteHead is the top of a site file up to "nodes:": site in zone, the
// primary master m1 (192.0.2.1) with its internal address master, random
// selection, then each block as a top-level line (health:, relay: ...).
func SiteHead(site, zone, master string, blocks ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "site: %s\nzone: %s\nmasters:\n  primary: {name: m1, ipv4: 192.0.2.1, internal: %q}\nselection: {method: random}\n", site, zone, master)
	for _, bl := range blocks {
		b.WriteString(bl + "\n")
	}
	b.WriteString("nodes:\n")
	return b.String()
}

// MinimalSite is the smallest valid site: site t in zone z.example., one
// node a (192.0.2.11) with the defaults for everything else. It ends with
// node a's last field, so a test can append more of them.
var MinimalSite = SiteHead("t", "z.example.", "127.0.0.1:7700") + `  - name: a
    ipv4: 192.0.2.11
    internal: "127.0.0.11:7801"
`

// SiteYAML is the director's test site: site t in zone z.example., the
// master at master, and nodes a, b, c ... (192.0.2.11 and up, weight 100,
// each under a comment) probed at targets over TCP (TCPHealth).
func SiteYAML(master string, targets ...string) string {
	var b strings.Builder
	b.WriteString("# Test site for the director.\n" + SiteHead("t", "z.example.", master, TCPHealth))
	for i, t := range targets {
		name := string(rune('a' + i))
		fmt.Fprintf(&b, "  # node %s\n  - name: %s\n    ipv4: 192.0.2.%d\n    internal: \"%s\"\n    weight: 100\n", name, name, 11+i, t)
	}
	return b.String()
}

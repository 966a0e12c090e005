package bgp

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/health"
)

// Config is one traffic node's speaker. BGP and Anycast come from the site
// (NodeConfig fills them from a cluster.Node); the rest is wiring.
type Config struct {
	BGP       cluster.BGP
	Anycast   []netip.Prefix // announced to every neighbor of the same address family
	Secondary bool           // apply BGP.Prepend and BGP.MED so the network prefers primaries
	// Draining starts the speaker with the node not accepting new clients
	// (the node's accepting switch off); SetAccepting changes it later.
	Draining bool

	// Command, when not empty, is an extra local check: the program and its
	// arguments, healthy when it exits 0 within the check timeout.
	Command []string
	// Probes are extra local checks, all of which must pass, e.g. the
	// relay's real allocation on loopback. With check kind "turn" they are
	// the check itself and at least one is required.
	Probes []health.Probe
	// ConnectRetry is how long the speaker waits between attempts to reach a
	// neighbor, and after a session reset before trying again (default 5s;
	// GoBGP's own default of 120s would keep a node dark for two minutes).
	ConnectRetry time.Duration

	Logger     *slog.Logger          // nil: discard
	Registerer prometheus.Registerer // nil: no metrics

	shared *metrics // set by Part: successive speakers share one set
}

// NodeConfig returns the site part of a speaker's Config for node n, or
// false when n runs no speaker.
func NodeConfig(n *cluster.Node) (Config, bool) {
	if n == nil || n.BGP == nil {
		return Config{}, false
	}
	return Config{
		BGP:          *n.BGP,
		Anycast:      n.Anycast,
		Secondary:    n.Secondary,
		Draining:     !n.Accepting,
		Command:      n.BGP.Command,
		ConnectRetry: n.BGP.ConnectRetry.D(),
	}, true
}

// The GRACEFUL_SHUTDOWN well-known community (RFC 8326), 65535:0.
const communityGracefulShutdown = 0xFFFF0000

// Defaults for zero values; the site parser sets the same ones, these cover
// a Config built by hand.
const (
	defaultConnectRetry = 5 * time.Second
	defaultInterval     = time.Second
	defaultTimeout      = 500 * time.Millisecond
	defaultRise         = 2
	defaultFall         = 3
	defaultBGPPort      = 179
)

// settings is a validated Config.
type settings struct {
	asn          uint32
	routerID     netip.Addr
	listenAddr   netip.Addr
	listenPort   int32 // -1: do not listen
	neighbors    []neighbor
	prefixes     []netip.Prefix
	communities  []uint32
	large        []string // validated "G:L1:L2", parsed by GoBGP
	prepend      int
	med          uint32
	secondary    bool
	gshutWait    time.Duration
	minInterval  time.Duration
	check        checkSettings
	connectRetry time.Duration
	draining     bool
}

type neighbor struct {
	addr      netip.Addr
	port      int
	asn       uint32
	password  string // never logged
	multihop  int
	hold      time.Duration
	keepalive time.Duration
	passive   bool
}

func (n neighbor) String() string { return n.addr.String() }

type checkSettings struct {
	interval, timeout time.Duration
	rise, fall        int
	probes            []health.Probe
}

func (c *Config) validate() (*settings, error) {
	b := &c.BGP
	s := &settings{
		asn:          b.ASN,
		routerID:     b.RouterID,
		listenAddr:   b.ListenAddr,
		listenPort:   -1,
		prepend:      b.Prepend,
		med:          b.MED,
		secondary:    c.Secondary,
		gshutWait:    b.GracefulShutdown.D(),
		minInterval:  b.MinAnnounceInterval.D(),
		connectRetry: c.ConnectRetry,
		draining:     c.Draining,
	}
	if err := checkASN("asn", b.ASN); err != nil {
		return nil, err
	}
	if !b.RouterID.Is4() {
		return nil, fmt.Errorf("%w: router_id %q: want an IPv4 address", ErrOption, addrString(b.RouterID))
	}
	switch {
	case b.ListenPort == 0:
	case b.ListenPort < 0 || b.ListenPort > 65535:
		return nil, fmt.Errorf("%w: listen_port %d: want 0 (do not listen) or 1-65535", ErrOption, b.ListenPort)
	default:
		s.listenPort = int32(b.ListenPort)
	}
	if b.Prepend < 0 || b.Prepend > 16 {
		return nil, fmt.Errorf("%w: prepend %d: want 0-16", ErrOption, b.Prepend)
	}
	if s.gshutWait < 0 || s.minInterval < 0 || s.connectRetry < 0 {
		return nil, fmt.Errorf("%w: negative duration", ErrOption)
	}
	if s.connectRetry == 0 {
		s.connectRetry = defaultConnectRetry
	}
	if len(c.Anycast) == 0 {
		return nil, fmt.Errorf("%w: no anycast prefixes to announce", ErrPrefix)
	}
	for _, p := range c.Anycast {
		if err := checkPrefix(p); err != nil {
			return nil, err
		}
		s.prefixes = append(s.prefixes, p)
	}
	for _, v := range b.Communities {
		x, err := parseCommunity(v)
		if err != nil {
			return nil, err
		}
		s.communities = append(s.communities, x)
	}
	for _, v := range b.LargeCommunities {
		if err := checkLargeCommunity(v); err != nil {
			return nil, err
		}
		s.large = append(s.large, v)
	}
	if len(b.Neighbors) == 0 {
		return nil, fmt.Errorf("%w: no neighbors", ErrOption)
	}
	seen := map[netip.Addr]bool{}
	for _, bn := range b.Neighbors {
		n, err := newNeighbor(bn)
		if err != nil {
			return nil, err
		}
		if seen[n.addr] {
			return nil, fmt.Errorf("%w: neighbor %s listed twice", ErrOption, n.addr)
		}
		seen[n.addr] = true
		s.neighbors = append(s.neighbors, n)
	}
	chk, err := c.checkSettings()
	if err != nil {
		return nil, err
	}
	s.check = chk
	return s, nil
}

func newNeighbor(bn cluster.BGPNeighbor) (neighbor, error) {
	n := neighbor{
		addr:      bn.Address.Unmap(),
		port:      bn.Port,
		asn:       bn.ASN,
		multihop:  bn.Multihop,
		hold:      bn.Hold.D(),
		keepalive: bn.Keepalive.D(),
		passive:   bn.Passive,
	}
	if !n.addr.IsValid() {
		return n, fmt.Errorf("%w: neighbor address missing", ErrOption)
	}
	if err := checkASN("neighbor "+n.addr.String()+" asn", bn.ASN); err != nil {
		return n, err
	}
	if n.port == 0 {
		n.port = defaultBGPPort
	}
	if n.port < 1 || n.port > 65535 {
		return n, fmt.Errorf("%w: neighbor %s port %d: want 1-65535", ErrOption, n.addr, n.port)
	}
	if n.multihop < 0 || n.multihop > 255 {
		return n, fmt.Errorf("%w: neighbor %s multihop %d: want 0-255", ErrOption, n.addr, n.multihop)
	}
	// RFC 4271 4.2: a hold time is 0 or at least 3 s.
	if n.hold != 0 && n.hold < 3*time.Second || n.hold < 0 || n.keepalive < 0 {
		return n, fmt.Errorf("%w: neighbor %s hold %s: want 0 or at least 3s", ErrOption, n.addr, n.hold)
	}
	if n.hold != 0 && n.keepalive >= n.hold {
		return n, fmt.Errorf("%w: neighbor %s keepalive %s must be shorter than hold %s", ErrOption, n.addr, n.keepalive, n.hold)
	}
	if bn.PasswordFile != "" {
		pw, err := readPassword(bn.PasswordFile)
		if err != nil {
			return n, fmt.Errorf("neighbor %s: %w", n.addr, err)
		}
		n.password = pw
	}
	return n, nil
}

// readPassword reads a TCP MD5 key. The error names the file, never its
// content.
func readPassword(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrPassword, err)
	}
	pw := string(bytes.TrimRight(b, "\r\n"))
	switch {
	case pw == "":
		return "", fmt.Errorf("%w: %s is empty", ErrPassword, file)
	case len(pw) > 80: // TCP_MD5SIG_MAXKEYLEN
		return "", fmt.Errorf("%w: %s holds more than 80 bytes", ErrPassword, file)
	case strings.ContainsAny(pw, "\r\n"):
		return "", fmt.Errorf("%w: %s holds more than one line", ErrPassword, file)
	}
	return pw, nil
}

func (c *Config) checkSettings() (checkSettings, error) {
	h := c.BGP.Check
	cs := checkSettings{
		interval: h.Interval.D(),
		timeout:  h.Timeout.D(),
		rise:     h.Rise,
		fall:     h.Fall,
	}
	if cs.interval == 0 {
		cs.interval = defaultInterval
	}
	if cs.timeout == 0 {
		cs.timeout = min(defaultTimeout, cs.interval)
	}
	if cs.rise == 0 {
		cs.rise = defaultRise
	}
	if cs.fall == 0 {
		cs.fall = defaultFall
	}
	switch {
	case cs.interval < 10*time.Millisecond:
		return cs, fmt.Errorf("%w: check interval %s: want at least 10ms", ErrOption, cs.interval)
	case cs.timeout < 0 || cs.timeout > cs.interval:
		return cs, fmt.Errorf("%w: check timeout %s: want at most the interval %s", ErrOption, cs.timeout, cs.interval)
	case cs.rise < 1 || cs.fall < 1:
		return cs, fmt.Errorf("%w: check rise %d fall %d: want at least 1", ErrOption, cs.rise, cs.fall)
	}
	if h.Kind == cluster.HealthTURN {
		// The relay package supplies the allocation probe: Probes are the
		// check itself.
		if len(c.Probes) == 0 {
			return cs, fmt.Errorf("%w: check kind turn needs the relay's probe in Config.Probes", ErrOption)
		}
	} else {
		main, err := health.ForCheck(h, nil)
		if err != nil {
			return cs, fmt.Errorf("%w: %w", ErrOption, err)
		}
		cs.probes = append(cs.probes, main)
	}
	if len(c.Command) > 0 {
		cs.probes = append(cs.probes, health.Command(c.Command[0], c.Command[1:]...))
	}
	for i, p := range c.Probes {
		if p.Check == nil {
			return cs, fmt.Errorf("%w: probe %d (%q) has no check func", ErrOption, i, p.Name)
		}
		cs.probes = append(cs.probes, p)
	}
	return cs, nil
}

func checkASN(what string, asn uint32) error {
	switch asn {
	case 0:
		return fmt.Errorf("%w: %s 0: want 1-4294967294", ErrASN, what)
	case 23456: // AS_TRANS (RFC 6793) only stands in for a 4-byte ASN
		return fmt.Errorf("%w: %s 23456 is AS_TRANS, reserved", ErrASN, what)
	case 65535, 4294967295: // RFC 7300 last ASNs
		return fmt.Errorf("%w: %s %d is reserved", ErrASN, what, asn)
	}
	return nil
}

func checkPrefix(p netip.Prefix) error {
	switch {
	case !p.IsValid():
		return fmt.Errorf("%w: %q does not parse", ErrPrefix, p.String())
	case p.Addr().Is4In6():
		return fmt.Errorf("%w: %s is an IPv4-mapped IPv6 prefix; write it as IPv4", ErrPrefix, p)
	case p.Addr().Zone() != "":
		return fmt.Errorf("%w: %s has a zone", ErrPrefix, p)
	case p.Masked() != p:
		return fmt.Errorf("%w: %s has host bits set, want %s", ErrPrefix, p, p.Masked())
	}
	return nil
}

// ParsePrefix parses an anycast prefix as the speaker accepts it: canonical,
// no host bits, no zone.
func ParsePrefix(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return p, fmt.Errorf("%w: %w", ErrPrefix, err)
	}
	return p, checkPrefix(p)
}

// parseCommunity parses "ASN:VALUE", each 0-65535.
func parseCommunity(s string) (uint32, error) {
	hi, lo, ok := strings.Cut(s, ":")
	a, err1 := strconv.ParseUint(hi, 10, 16)
	b, err2 := strconv.ParseUint(lo, 10, 16)
	if !ok || err1 != nil || err2 != nil {
		return 0, fmt.Errorf("%w: community %q: want ASN:VALUE, each 0-65535", ErrOption, s)
	}
	return uint32(a)<<16 | uint32(b), nil
}

func checkLargeCommunity(s string) error {
	f := strings.Split(s, ":")
	ok := len(f) == 3
	for _, x := range f {
		if _, err := strconv.ParseUint(x, 10, 32); err != nil {
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("%w: large community %q: want GLOBAL:LOCAL1:LOCAL2, each 0-4294967295", ErrOption, s)
	}
	return nil
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// hasNeighborFor reports whether some neighbor's session can carry p:
// sessions carry their own address family only.
func (s *settings) hasNeighborFor(p netip.Prefix) bool {
	for _, n := range s.neighbors {
		if n.addr.Is4() == p.Addr().Is4() {
			return true
		}
	}
	return false
}

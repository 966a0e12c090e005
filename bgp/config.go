package bgp

import (
	"bytes"
	"errors"
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
// (NodeConfig fills them from a cluster.Node), complete with the site's
// defaults; the rest is wiring. A Config built by hand must be complete
// too: start from cluster.DefaultBGP and cluster.DefaultBGPNeighbor.
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
	// ConnectRetry, when not zero, replaces the site's BGP.ConnectRetry:
	// how long the speaker waits between attempts to reach a neighbor, and
	// after a session reset before trying again.
	ConnectRetry time.Duration

	Logger     *slog.Logger          // nil: discard
	Registerer prometheus.Registerer // nil: no metrics

	shared *speakerMetrics // set by Part: successive speakers share one set
}

// NodeConfig returns the site part of a speaker's Config for node n, or
// false when n runs no speaker.
func NodeConfig(n *cluster.Node) (Config, bool) {
	if n == nil || n.BGP == nil {
		return Config{}, false
	}
	return Config{
		BGP:       *n.BGP,
		Anycast:   n.Anycast,
		Secondary: n.Secondary,
		Draining:  !n.Accepting,
		Command:   n.BGP.Command,
	}, true
}

// The GRACEFUL_SHUTDOWN well-known community (RFC 8326), 65535:0.
const communityGracefulShutdown = 0xFFFF0000

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

// validate checks cfg with the site's own rules (cluster.ValidateBGP: a
// speaker refuses exactly what site validation refuses) and the wiring,
// reads the password files and converts it to GoBGP's terms. Every site
// value comes complete from the site; nothing is defaulted here.
func (c *Config) validate() (*settings, error) {
	b := &c.BGP
	if err := cluster.ValidateBGP(b, c.Anycast); err != nil {
		return nil, fmt.Errorf("%w: %w", siteError(err), err)
	}
	s := &settings{
		asn:          b.ASN,
		routerID:     b.RouterID,
		listenAddr:   b.ListenAddr,
		listenPort:   -1,
		prefixes:     append([]netip.Prefix(nil), c.Anycast...),
		large:        append([]string(nil), b.LargeCommunities...),
		prepend:      b.Prepend,
		med:          b.MED,
		secondary:    c.Secondary,
		gshutWait:    b.GracefulShutdown.D(),
		minInterval:  b.MinAnnounceInterval.D(),
		connectRetry: b.ConnectRetry.D(),
		draining:     c.Draining,
	}
	if b.ListenPort != 0 {
		s.listenPort = int32(b.ListenPort)
	}
	switch { // wiring may shorten the wait, e.g. for tests
	case c.ConnectRetry < 0:
		return nil, fmt.Errorf("%w: connect retry %s is negative", ErrOption, c.ConnectRetry)
	case c.ConnectRetry > 0:
		s.connectRetry = c.ConnectRetry
	}
	for _, v := range b.Communities {
		x, err := parseCommunity(v)
		if err != nil {
			return nil, err
		}
		s.communities = append(s.communities, x)
	}
	for _, bn := range b.Neighbors {
		n, err := newNeighbor(bn)
		if err != nil {
			return nil, err
		}
		s.neighbors = append(s.neighbors, n)
	}
	chk, err := c.checkSettings()
	if err != nil {
		return nil, err
	}
	s.check = chk
	return s, nil
}

// siteError is the sentinel for the first problem ValidateBGP found.
func siteError(err error) error {
	var ve *cluster.ValidationError
	if errors.As(err, &ve) && len(ve.Errors) > 0 {
		f := ve.Errors[0].Field
		switch {
		case f == "bgp.asn" || strings.HasSuffix(f, "].asn"):
			return ErrASN
		case f == "bgp" || strings.HasPrefix(f, "anycast"):
			return ErrPrefix
		}
	}
	return ErrOption
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

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

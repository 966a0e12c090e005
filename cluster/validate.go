package cluster

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"net"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // node time zones resolve the same on every host
)

// Limits of the site model.
const (
	MaxAnswers = 8 // addresses in one traffic answer; keeps UDP answers small
	MaxWeight  = 1_000_000
)

func (c *checker) site(r *rawSite) *Site {
	s := &Site{}
	s.Name = get(c, r.Site, "site", "")
	if !r.Site.set {
		c.add(pos{1, 1}, "site", "required")
	} else if !isLabel(s.Name) {
		c.add(r.Site.p, "site", "%q: want lower-case letters, digits and dashes", s.Name)
	}
	s.Zone = c.hostname(r.Zone, "zone", "", true)
	if !r.Zone.set {
		c.add(pos{1, 1}, "zone", "required")
	}
	s.SupportHostname = c.hostname(r.SupportHostname, "support_hostname", s.Zone, false)
	if s.SupportHostname == "" {
		s.SupportHostname = s.Zone
	}
	s.TrafficHostname = c.hostname(r.TrafficHostname, "traffic_hostname", s.Zone, false)
	if s.TrafficHostname == "" && s.Zone != "" {
		s.TrafficHostname = "traffic." + s.Zone
	}
	if s.TrafficHostname == s.SupportHostname && r.TrafficHostname.set {
		c.add(r.TrafficHostname.p, "traffic_hostname", "must differ from the support hostname")
	}
	s.TTL = TTLs{
		Support:  get(c, r.TTL.Support, "ttl.support", defaultTTL.Support),
		Traffic:  get(c, r.TTL.Traffic, "ttl.traffic", defaultTTL.Traffic),
		Node:     get(c, r.TTL.Node, "ttl.node", defaultTTL.Node),
		SRV:      get(c, r.TTL.SRV, "ttl.srv", defaultTTL.SRV),
		Negative: get(c, r.TTL.Negative, "ttl.negative", defaultTTL.Negative),
		Records:  get(c, r.TTL.Records, "ttl.records", defaultTTL.Records),
	}
	for i, v := range r.NS {
		s.NS = append(s.NS, c.hostname(v, fmt.Sprintf("ns[%d]", i), "", true))
	}
	if len(s.NS) == 0 && s.Zone != "" {
		s.NS = []string{"ns1." + s.Zone}
	}
	s.SOA = SOA{
		MName:   c.hostname(r.SOA.MName, "soa.mname", "", false),
		RName:   c.hostname(r.SOA.RName, "soa.rname", "", false),
		Refresh: get(c, r.SOA.Refresh, "soa.refresh", defaultSOA.Refresh),
		Retry:   get(c, r.SOA.Retry, "soa.retry", defaultSOA.Retry),
		Expire:  get(c, r.SOA.Expire, "soa.expire", defaultSOA.Expire),
	}
	if s.SOA.MName == "" && len(s.NS) > 0 {
		s.SOA.MName = s.NS[0]
	}
	if s.SOA.RName == "" && s.Zone != "" {
		s.SOA.RName = "hostmaster." + s.Zone
	}
	s.Health = c.health(r.Health, "health", defaultHealth)
	s.Relay = c.relay(r.Relay, "relay", defaultRelay)
	s.Selection = c.selection(r.Selection)
	s.Masters = c.masters(r.Masters, s.Zone)
	if len(r.Nodes) == 0 {
		c.add(pos{1, 1}, "nodes", "at least one traffic node is required")
	}
	for i := range r.Nodes {
		s.Nodes = append(s.Nodes, c.node(&r.Nodes[i], fmt.Sprintf("nodes[%d]", i), s))
	}
	c.unique(r, s)
	c.crossChecks(r, s)
	s.Records = c.records(r.Records, s)
	return s
}

func (c *checker) selection(r rawSelection) Selection {
	sel := Selection{
		Method:  Method(get(c, r.Method, "selection.method", string(defaultSelection.Method))),
		Answers: c.intIn(r.Answers, "selection.answers", defaultSelection.Answers, 1, MaxAnswers),
	}
	if !contains(methods, sel.Method) {
		c.add(r.Method.p, "selection.method", "%q: want one of %s", sel.Method, list(methods))
	}
	sel.AnycastIPv4 = c.addr(r.AnycastIPv4, "selection.anycast_ipv4", 4)
	sel.AnycastIPv6 = c.addr(r.AnycastIPv6, "selection.anycast_ipv6", 6)
	if sel.Method == MethodAnycast && !sel.AnycastIPv4.IsValid() && !sel.AnycastIPv6.IsValid() {
		c.add(r.Method.p, "selection.method", "anycast needs selection.anycast_ipv4 or selection.anycast_ipv6")
	}
	return sel
}

func (c *checker) masters(r rawMasters, zone string) Masters {
	var m Masters
	if r.Primary == nil {
		c.add(pos{1, 1}, "masters.primary", "required")
	} else {
		m.Primary = c.master(r.Primary, "masters.primary")
	}
	if r.Backup != nil {
		b := c.master(r.Backup, "masters.backup")
		m.Backup = &b
	}
	return m
}

func (c *checker) master(r *rawMaster, path string) Master {
	m := Master{
		Name:     get(c, r.Name, path+".name", ""),
		IPv4:     c.addr(r.IPv4, path+".ipv4", 4),
		IPv6:     c.addr(r.IPv6, path+".ipv6", 6),
		Internal: c.hostPort(r.Internal, path+".internal"),
	}
	if !r.Name.set {
		c.add(r.Internal.p, path+".name", "required")
	}
	if !m.IPv4.IsValid() && !m.IPv6.IsValid() && !r.IPv4.set && !r.IPv6.set {
		c.add(r.Name.p, path, "needs ipv4 or ipv6")
	}
	m.Health = c.health(r.Health, path+".health", defaultHealth)
	if m.Health.Target == "" {
		m.Health.Target = m.Internal
	}
	return m
}

func (c *checker) node(r *rawNode, path string, s *Site) Node {
	n := Node{
		Name:      get(c, r.Name, path+".name", ""),
		ID:        get(c, r.ID, path+".id", ""),
		IPv4:      c.addr(r.IPv4, path+".ipv4", 4),
		IPv6:      c.addr(r.IPv6, path+".ipv6", 6),
		Internal:  c.hostPort(r.Internal, path+".internal"),
		Region:    get(c, r.Region, path+".region", ""),
		Lat:       c.floatIn(r.Lat, path+".lat", -90, 90),
		Lon:       c.floatIn(r.Lon, path+".lon", -180, 180),
		TimeZone:  get(c, r.TimeZone, path+".timezone", defaultNode.TimeZone),
		Weight:    c.intIn(r.Weight, path+".weight", defaultNode.Weight, 1, MaxWeight),
		Accepting: get(c, r.Accepting, path+".accepting", defaultNode.Accepting),
		Secondary: get(c, r.Secondary, path+".secondary", defaultNode.Secondary),
	}
	if !r.Name.set {
		c.add(r.at, path+".name", "required")
	} else if !isLabel(n.Name) {
		c.add(r.Name.p, path+".name", "%q: want lower-case letters, digits and dashes", n.Name)
	}
	if n.ID == "" && n.Name != "" {
		// Derived, not random: re-applying the same file keeps the same id.
		sum := sha256.Sum256([]byte(s.Name + "/" + n.Name))
		n.ID = hex.EncodeToString(sum[:16])
	}
	n.Hostname = c.hostname(r.Hostname, path+".hostname", s.Zone, false)
	if n.Hostname == "" && n.Name != "" && s.Zone != "" {
		n.Hostname = n.Name + "." + s.Zone
	}
	if !r.IPv4.set && !r.IPv6.set {
		c.add(r.Name.p, path, "needs ipv4 or ipv6")
	}
	if !r.Internal.set {
		c.add(r.Name.p, path+".internal", "required (host:port of the node agent)")
	}
	if _, err := time.LoadLocation(n.TimeZone); err != nil || n.TimeZone == "" || n.TimeZone == "Local" {
		c.add(r.TimeZone.p, path+".timezone", "%q is not an IANA time zone", n.TimeZone)
	}
	if s.Selection.Method == MethodGeo || s.Selection.Method == MethodAnycast {
		if !r.Lat.set || !r.Lon.set {
			c.add(r.Name.p, path, "lat and lon are required by the %s method", s.Selection.Method)
		}
	}
	if s.Selection.Method == MethodTimezone && !r.TimeZone.set {
		c.add(r.Name.p, path+".timezone", "required by the timezone method")
	}
	seen := map[netip.Prefix]bool{}
	for i, v := range r.Prefixes {
		p := c.prefix(v, fmt.Sprintf("%s.prefixes[%d]", path, i), ParsePrefix)
		if !p.IsValid() {
			continue
		}
		if seen[p] {
			c.add(v.p, fmt.Sprintf("%s.prefixes[%d]", path, i), "%s is listed twice", p)
		}
		seen[p] = true
		n.Prefixes = append(n.Prefixes, p)
	}
	for i, v := range r.Anycast {
		if p := c.prefix(v, fmt.Sprintf("%s.anycast[%d]", path, i), ParseCIDR); p.IsValid() {
			n.Anycast = append(n.Anycast, p)
		}
	}
	n.Health = c.health(r.Health, path+".health", s.Health)
	if n.Health.Target == "" {
		n.Health.Target = n.Internal
	}
	n.Relay = c.relay(r.Relay, path+".relay", s.Relay)
	if r.BGP != nil {
		b := c.bgp(r.BGP, path+".bgp", &n)
		n.BGP = &b
		// The check block was checked by health, field by field. A list
		// index is only the file's while every prefix parsed.
		aligned := len(n.Anycast) == len(r.Anycast)
		keep := func(f string) bool {
			return !strings.HasPrefix(f, "bgp.check.") && (aligned || !strings.HasPrefix(f, "anycast["))
		}
		c.rules(path, r, r.at, keep, func(add addFunc) { speakerRules(n.BGP, n.Anycast, add) })
	}
	return n
}

func (c *checker) health(r rawHealthCheck, path string, def HealthCheck) HealthCheck {
	h := HealthCheck{
		Kind:     HealthKind(get(c, r.Kind, path+".kind", string(def.Kind))),
		Target:   get(c, r.Target, path+".target", def.Target),
		Path:     get(c, r.Path, path+".path", def.Path),
		Expect:   get(c, r.Expect, path+".expect", def.Expect),
		Interval: c.duration(r.Interval, path+".interval", def.Interval),
		Rise:     get(c, r.Rise, path+".rise", def.Rise),
		Fall:     get(c, r.Fall, path+".fall", def.Fall),
	}
	// An unset timeout never exceeds the interval: a 250ms interval alone
	// must not be rejected for the 500ms default timeout.
	h.Timeout = c.duration(r.Timeout, path+".timeout", min(def.Timeout, h.Interval))
	// A field the file leaves out holds a default, checked where it was
	// written (the table or the site's own block); only the timeout, which
	// follows the interval, is checked either way.
	set := map[string]bool{
		"kind": r.Kind.set, "target": r.Target.set, "path": r.Path.set, "expect": r.Expect.set,
		"interval": r.Interval.set, "timeout": true, "rise": r.Rise.set, "fall": r.Fall.set,
	}
	c.rules(path, &r, r.at, func(f string) bool { return set[f] }, func(add addFunc) { healthRules(&h, add) })
	return h
}

func (c *checker) relay(r rawRelay, path string, def Relay) Relay {
	rl := Relay{
		UDPPort:               c.intIn(r.UDPPort, path+".udp_port", def.UDPPort, 1, 65535),
		TCPPort:               c.intIn(r.TCPPort, path+".tcp_port", def.TCPPort, 1, 65535),
		TLSPort:               c.intIn(r.TLSPort, path+".tls_port", def.TLSPort, 1, 65535),
		PortMin:               c.intIn(r.PortMin, path+".port_min", def.PortMin, 1024, 65535),
		PortMax:               c.intIn(r.PortMax, path+".port_max", def.PortMax, 1024, 65535),
		MaxAllocationsPerUser: c.intIn(r.MaxAllocationsPerUser, path+".max_allocations_per_user", def.MaxAllocationsPerUser, 0, math.MaxInt32),
		MaxAllocations:        c.intIn(r.MaxAllocations, path+".max_allocations", def.MaxAllocations, 0, math.MaxInt32),
		AllocationBPS:         get(c, r.AllocationBPS, path+".allocation_bps", def.AllocationBPS),
		NodeBPS:               get(c, r.NodeBPS, path+".node_bps", def.NodeBPS),
		AllowPeers:            def.AllowPeers,
	}
	if rl.PortMin > rl.PortMax {
		c.add(r.PortMin.p, path+".port_min", "%d is above port_max %d", rl.PortMin, rl.PortMax)
	}
	if len(r.AllowPeers) > 0 {
		rl.AllowPeers = nil
		for i, v := range r.AllowPeers {
			if p := c.prefix(v, fmt.Sprintf("%s.allow_peers[%d]", path, i), ParsePrefix); p.IsValid() {
				rl.AllowPeers = append(rl.AllowPeers, p)
			}
		}
	}
	return rl
}

// unique rejects two nodes (or masters) sharing a name, id, host name or address.
func (c *checker) unique(r *rawSite, s *Site) {
	type owner struct{ path string }
	seen := map[string]owner{}
	claim := func(kind, key string, p pos, path string) bool {
		if key == "" {
			return true
		}
		k := kind + "\x00" + key
		if o, ok := seen[k]; ok {
			c.add(p, path, "%s %q is already used by %s", kind, key, o.path)
			return false
		}
		seen[k] = owner{path}
		return true
	}
	for _, m := range []struct {
		raw  *rawMaster
		m    *Master
		path string
	}{{r.Masters.Primary, &s.Masters.Primary, "masters.primary"}, {r.Masters.Backup, s.Masters.Backup, "masters.backup"}} {
		if m.raw == nil || m.m == nil {
			continue
		}
		claim("name", m.m.Name, m.raw.Name.p, m.path+".name")
		claim("address", addrKey(m.m.IPv4), m.raw.IPv4.p, m.path+".ipv4")
		claim("address", addrKey(m.m.IPv6), m.raw.IPv6.p, m.path+".ipv6")
	}
	for _, name := range []struct {
		v    string
		p    pos
		path string
	}{{s.SupportHostname, r.SupportHostname.p, "support_hostname"}, {s.TrafficHostname, r.TrafficHostname.p, "traffic_hostname"}} {
		claim("hostname", name.v, name.p, name.path)
	}
	for i := range s.Nodes {
		n, rn, path := &s.Nodes[i], &r.Nodes[i], fmt.Sprintf("nodes[%d]", i)
		// An id or host name derived from a duplicate name would only
		// repeat the name's error.
		nameOK := claim("name", n.Name, rn.Name.p, path+".name")
		if nameOK || rn.ID.set {
			claim("id", n.ID, rn.ID.p, path+".id")
		}
		if nameOK || rn.Hostname.set {
			claim("hostname", n.Hostname, rn.Hostname.p, path+".hostname")
		}
		claim("address", addrKey(n.IPv4), rn.IPv4.p, path+".ipv4")
		claim("address", addrKey(n.IPv6), rn.IPv6.p, path+".ipv6")
		claim("internal address", n.Internal, rn.Internal.p, path+".internal")
	}
}

func (c *checker) crossChecks(r *rawSite, s *Site) {
	sel := s.Selection
	for _, a := range []struct {
		addr netip.Addr
		v    val[string]
		path string
	}{{sel.AnycastIPv4, r.Selection.AnycastIPv4, "selection.anycast_ipv4"}, {sel.AnycastIPv6, r.Selection.AnycastIPv6, "selection.anycast_ipv6"}} {
		if !a.addr.IsValid() {
			continue
		}
		covered := false
		for _, n := range s.Nodes {
			for _, p := range n.Anycast {
				covered = covered || p.Contains(a.addr)
			}
		}
		if !covered {
			c.add(a.v.p, a.path, "%s lies in no node's anycast prefix", a.addr)
		}
	}
}

func addrKey(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// get returns the value of v, or def when v is absent. A value of the wrong
// type is reported with its path and def is used.
func get[T any](c *checker, v val[T], path string, def T) T {
	if !v.set {
		return def
	}
	if v.err != nil {
		c.add(v.p, path, "%s", wantType(reflect.TypeOf(def), v.err))
		return def
	}
	return v.v
}

func wantType(t reflect.Type, err error) string {
	if err == errNotScalar {
		return "expected a single value, not a list or mapping"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "want true or false"
	case reflect.Int, reflect.Int64:
		return "want a whole number"
	case reflect.Uint32:
		return "want a whole number from 0 to 4294967295"
	case reflect.Uint64:
		return "want a whole number from 0"
	case reflect.Float64:
		return "want a number"
	}
	return "want text"
}

func (c *checker) intIn(v val[int], path string, def, lo, hi int) int {
	n := get(c, v, path, def)
	if v.set && v.err == nil && (n < lo || n > hi) {
		c.add(v.p, path, "%d is out of range %d-%d", n, lo, hi)
	}
	return n
}

func (c *checker) floatIn(v val[float64], path string, lo, hi float64) float64 {
	f := get(c, v, path, 0)
	if v.set && v.err == nil && (f < lo || f > hi || math.IsNaN(f)) {
		c.add(v.p, path, "%g is out of range %g to %g", f, lo, hi)
	}
	return f
}

// duration reads a duration; its least value is a rule of the field.
func (c *checker) duration(v val[string], path string, def Duration) Duration {
	s := get(c, v, path, "")
	if !v.set || v.err != nil {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		c.add(v.p, path, "%q: want a duration such as 250ms or 2s", s)
		return def
	}
	return Duration(d)
}

// addr reads an address of one family (4 or 6).
func (c *checker) addr(v val[string], path string, family int) netip.Addr {
	s := get(c, v, path, "")
	if !v.set || v.err != nil {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(s)
	switch {
	case err != nil:
		c.add(v.p, path, "%q is not an IP address", s)
	case family == 4 && !a.Is4():
		c.add(v.p, path, "%q is not an IPv4 address", s)
	case family == 6 && (!a.Is6() || a.Is4In6() || a.Zone() != ""):
		c.add(v.p, path, "%q is not an IPv6 address", s)
	case a.IsUnspecified() || a.IsMulticast():
		c.add(v.p, path, "%q cannot be a node address", s)
	default:
		return a
	}
	return netip.Addr{}
}

func (c *checker) prefix(v val[string], path string, parse func(string) (netip.Prefix, error)) netip.Prefix {
	s := get(c, v, path, "")
	if v.err != nil {
		return netip.Prefix{}
	}
	p, err := parse(s)
	if err != nil {
		c.add(v.p, path, "%s", err.Error())
		return netip.Prefix{}
	}
	return p
}

func (c *checker) hostPort(v val[string], path string) string {
	s := get(c, v, path, "")
	if !v.set || v.err != nil {
		return ""
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" {
		c.add(v.p, path, "%q: want host:port", s)
		return s
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		c.add(v.p, path, "%q: port out of range 1-65535", s)
	}
	return s
}

// hostname reads a DNS name and returns it as a lower-case FQDN. With zone
// set, the name must lie inside the zone; apexOK allows the zone itself.
func (c *checker) hostname(v val[string], path, zone string, anywhere bool) string {
	s := get(c, v, path, "")
	if !v.set || v.err != nil {
		return ""
	}
	h, err := FQDN(s)
	if err != nil {
		c.add(v.p, path, "%s", err.Error())
		return ""
	}
	if !anywhere && zone != "" && !InZone(h, zone) {
		c.add(v.p, path, "%q is outside the zone %s", s, zone)
	}
	return h
}

// FQDN checks a DNS name and returns it lower-cased with the trailing dot.
func FQDN(s string) (string, error) {
	h := strings.ToLower(strings.TrimSuffix(s, "."))
	if h == "" || len(h) > 253 {
		return "", fmt.Errorf("%q is not a valid host name", s)
	}
	for _, l := range strings.Split(h, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "", fmt.Errorf("%q is not a valid host name", s)
		}
		for i := 0; i < len(l); i++ {
			ch := l[i]
			if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_') {
				return "", fmt.Errorf("%q is not a valid host name", s)
			}
		}
	}
	return h + ".", nil
}

// InZone reports whether FQDN name equals zone or lies below it.
func InZone(name, zone string) bool {
	return name == zone || strings.HasSuffix(name, "."+zone)
}

func isLabel(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-') {
			return false
		}
	}
	return true
}

func contains[T comparable](xs []T, x T) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func list[T ~string](xs []T) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = string(x)
	}
	return strings.Join(s, ", ")
}

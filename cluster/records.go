package cluster

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v4"
)

// Record is one static record of the site's zone: a name Meridian does not
// compute (name servers' addresses, www, mail, verification TXT records),
// served by the DNS plugin with the site's own SOA and NS, so that the zone
// has one source. Name is a lower-case FQDN inside the zone; Value is the
// record data in a canonical presentation form:
//
//	A, AAAA  the address
//	CNAME    the target FQDN
//	MX       "PREFERENCE TARGET"
//	SRV      "PRIORITY WEIGHT PORT TARGET"
//	TXT      the text itself (no quotes; longer than 255 bytes is split)
//	CAA      "FLAGS TAG VALUE" (VALUE without quotes)
type Record struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	TTL   uint32 `json:"ttl"`
	Value string `json:"value"`
}

// Record types a site file may hold. The zone's SOA and NS come from the
// soa and ns fields; delegations are not supported.
const (
	RecordA     = "A"
	RecordAAAA  = "AAAA"
	RecordCNAME = "CNAME"
	RecordMX    = "MX"
	RecordSRV   = "SRV"
	RecordTXT   = "TXT"
	RecordCAA   = "CAA"
)

var recordTypes = []string{RecordA, RecordAAAA, RecordCNAME, RecordMX, RecordSRV, RecordTXT, RecordCAA}

// maxTXTValue bounds a TXT record's text: it must fit a UDP answer.
const maxTXTValue = 2048

type rawRecord struct {
	Name  val[string] `yaml:"name"`
	Type  val[string] `yaml:"type"`
	TTL   val[uint32] `yaml:"ttl"`
	Value val[string] `yaml:"value"`
	at    pos
}

// recordName reads a record's owner name. "@" is the zone apex; a name
// that ends with a dot is absolute; another name is absolute when it
// already ends in the zone, else relative to it ("www", "_dmarc").
func recordName(s, zone string) (string, error) {
	if s == "@" {
		return zone, nil
	}
	abs := strings.HasSuffix(s, ".")
	h, err := FQDN(s)
	if err != nil {
		return "", err
	}
	if abs || InZone(h, zone) {
		if !InZone(h, zone) {
			return "", fmt.Errorf("%q is outside the zone %s", s, zone)
		}
		return h, nil
	}
	return FQDN(strings.TrimSuffix(h, ".") + "." + zone)
}

// recordTarget reads a host name in record data. "@" is the zone apex, a
// single label is relative to the zone ("www"); any other name is
// absolute, the trailing dot optional as for every host name of the file.
func recordTarget(s, zone string) (string, error) {
	if s == "@" {
		return zone, nil
	}
	h, err := FQDN(s)
	if err != nil {
		return "", err
	}
	if !strings.HasSuffix(s, ".") && !strings.Contains(strings.TrimSuffix(h, "."), ".") {
		return FQDN(strings.TrimSuffix(h, ".") + "." + zone)
	}
	return h, nil
}

// records reads the records block; owned names were settled before.
func (c *checker) records(rs []rawRecord, s *Site) []Record {
	if s.Zone == "" {
		return nil
	}
	var out []Record
	type at struct {
		path string
		p    pos
	}
	byName := map[string][]int{} // name -> indexes into out
	paths := make([]at, 0, len(rs))
	seen := map[Record]string{}
	for i := range rs {
		r := &rs[i]
		path := fmt.Sprintf("records[%d]", i)
		rec, ok := c.record(r, path, s)
		if !ok {
			continue
		}
		key := rec
		key.TTL = 0
		if prev, dup := seen[key]; dup {
			c.add(r.Value.p, path, "%s %s %s is already listed at %s", rec.Name, rec.Type, rec.Value, prev)
			continue
		}
		seen[key] = path
		byName[rec.Name] = append(byName[rec.Name], len(out))
		paths = append(paths, at{path, r.at})
		out = append(out, rec)
	}
	// A CNAME is alone at its name (RFC 1034 section 3.6.2, RFC 2181
	// section 10.1), and MX and SRV targets are not aliases (RFC 2181
	// section 10.3).
	for i, rec := range out {
		switch rec.Type {
		case RecordCNAME:
			if len(byName[rec.Name]) > 1 {
				c.add(paths[i].p, paths[i].path, "%s has a CNAME and other records: a CNAME must be the only record of its name", rec.Name)
			}
		case RecordMX, RecordSRV:
			f := strings.Fields(rec.Value)
			t := f[len(f)-1]
			for _, j := range byName[t] {
				if out[j].Type == RecordCNAME {
					c.add(paths[i].p, paths[i].path+".value", "target %s is a CNAME (%s): %s targets must be names with addresses", t, paths[j].path, rec.Type)
				}
			}
		}
	}
	return out
}

// record reads one record; ok is false when it has a problem.
func (c *checker) record(r *rawRecord, path string, s *Site) (Record, bool) {
	n := c.total
	rec := Record{
		Type:  strings.ToUpper(get(c, r.Type, path+".type", "")),
		TTL:   get(c, r.TTL, path+".ttl", s.TTL.Records),
		Value: strings.TrimSpace(get(c, r.Value, path+".value", "")),
	}
	name := get(c, r.Name, path+".name", "")
	switch {
	case !r.Name.set:
		c.add(r.at, path+".name", "required (a name in the zone, or @ for the apex)")
	case r.Name.err == nil:
		h, err := recordName(name, s.Zone)
		if err != nil {
			c.add(r.Name.p, path+".name", "%s", err.Error())
		}
		rec.Name = h
	}
	switch {
	case !r.Type.set:
		c.add(r.at, path+".type", "required (one of %s)", strings.Join(recordTypes, ", "))
	case r.Type.err != nil:
	case rec.Type == "NS":
		c.add(r.Type.p, path+".type", "NS: the zone's name servers are the ns field; delegations are not supported")
	case rec.Type == "SOA":
		c.add(r.Type.p, path+".type", "SOA: the zone's SOA is the soa field")
	case !contains(recordTypes, rec.Type):
		c.add(r.Type.p, path+".type", "%q: want one of %s", rec.Type, strings.Join(recordTypes, ", "))
	}
	if !r.Value.set {
		c.add(r.at, path+".value", "required")
	}
	if c.total != n {
		return rec, false
	}
	v, err := recordValue(rec.Type, rec.Value, s.Zone)
	if err != nil {
		c.add(r.Value.p, path+".value", "%s", err.Error())
		return rec, false
	}
	rec.Value = v
	if why := ownedName(s, rec); why != "" {
		c.add(r.Name.p, path+".name", "%s", why)
		return rec, false
	}
	return rec, true
}

// recordValue checks record data and returns it in canonical form.
func recordValue(typ, v, zone string) (string, error) {
	f := strings.Fields(v)
	want := func(form string) error { return fmt.Errorf("%q: want %s", v, form) }
	num := func(s string, max uint64) (uint64, bool) {
		n, err := strconv.ParseUint(s, 10, 64)
		return n, err == nil && n <= max
	}
	switch typ {
	case RecordA, RecordAAAA:
		a, err := netip.ParseAddr(v)
		if err != nil || a.Zone() != "" || (typ == RecordA) != a.Is4() || a.Is4In6() {
			return "", fmt.Errorf("%q is not an %s address", v, map[string]string{RecordA: "IPv4", RecordAAAA: "IPv6"}[typ])
		}
		if a.IsUnspecified() || a.IsMulticast() {
			return "", fmt.Errorf("%q cannot be a host address", v)
		}
		return a.String(), nil
	case RecordCNAME:
		if len(f) != 1 {
			return "", want("a host name")
		}
		return recordTarget(f[0], zone)
	case RecordMX:
		if len(f) != 2 {
			return "", want("PREFERENCE HOST, such as 10 mail.example.com")
		}
		pref, ok := num(f[0], 65535)
		if !ok {
			return "", fmt.Errorf("%q: preference %q is not a whole number from 0 to 65535", v, f[0])
		}
		t, err := recordTarget(f[1], zone)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%d %s", pref, t), nil
	case RecordSRV:
		if len(f) != 4 {
			return "", want("PRIORITY WEIGHT PORT HOST, such as 10 5 5060 sip.example.com")
		}
		var n [3]uint64
		for i, s := range f[:3] {
			x, ok := num(s, 65535)
			if !ok {
				return "", fmt.Errorf("%q: %q is not a whole number from 0 to 65535", v, s)
			}
			n[i] = x
		}
		t, err := recordTarget(f[3], zone)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%d %d %d %s", n[0], n[1], n[2], t), nil
	case RecordTXT:
		if len(v) > maxTXTValue {
			return "", fmt.Errorf("text of %d bytes is longer than %d", len(v), maxTXTValue)
		}
		for i := 0; i < len(v); i++ {
			if v[i] < 0x20 || v[i] == 0x7f {
				return "", fmt.Errorf("%q: control characters are not allowed", v)
			}
		}
		return v, nil
	case RecordCAA:
		if len(f) < 3 {
			return "", want(`FLAGS TAG VALUE, such as 0 issue letsencrypt.org`)
		}
		flags, ok := num(f[0], 255)
		if !ok {
			return "", fmt.Errorf("%q: flags %q are not a whole number from 0 to 255", v, f[0])
		}
		tag := f[1]
		if !isCAATag(tag) {
			return "", fmt.Errorf("%q: tag %q: want letters and digits, such as issue, issuewild or iodef", v, tag)
		}
		rest := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(strings.TrimPrefix(v, f[0])), tag))
		rest = strings.TrimSuffix(strings.TrimPrefix(rest, `"`), `"`)
		if strings.ContainsAny(rest, "\"\\") {
			return "", fmt.Errorf("%q: the value cannot hold quotes or backslashes", v)
		}
		return fmt.Sprintf("%d %s %s", flags, strings.ToLower(tag), rest), nil
	}
	return "", fmt.Errorf("unknown type %s", typ)
}

func isCAATag(s string) bool {
	if s == "" || len(s) > 15 {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i] | 0x20
		if !(ch >= 'a' && ch <= 'z' || s[i] >= '0' && s[i] <= '9') {
			return false
		}
	}
	return true
}

// ownedName says why rec cannot be a static record ("" when it can): the
// DNS plugin computes the traffic hostname and every name below it, the
// support hostname's and every node hostname's addresses, and the apex's
// SOA and NS.
func ownedName(s *Site, rec Record) string {
	if InZone(rec.Name, s.TrafficHostname) {
		return fmt.Sprintf("%s is Meridian's: the traffic hostname %s and every name below it are answered from the site", rec.Name, s.TrafficHostname)
	}
	addr := rec.Type == RecordA || rec.Type == RecordAAAA || rec.Type == RecordCNAME
	if rec.Name == s.SupportHostname && addr {
		return fmt.Sprintf("%s is the support hostname: Meridian answers its addresses (the master's); it can hold other types", rec.Name)
	}
	for i := range s.Nodes {
		if rec.Name == s.Nodes[i].Hostname && addr {
			return fmt.Sprintf("%s is the hostname of nodes[%d]: Meridian answers its addresses; it can hold other types", rec.Name, i)
		}
	}
	if rec.Name == s.Zone && rec.Type == RecordCNAME {
		return "the zone apex cannot be a CNAME: it holds the SOA and NS"
	}
	return ""
}

// UnmarshalYAML keeps the record's own position, for a field it leaves out.
func (r *rawRecord) UnmarshalYAML(n *yaml.Node) error {
	type plain rawRecord
	return decodeAt(n, (*plain)(r), &r.at)
}

package cluster

import (
	"fmt"
	"strings"
	"time"
)

// Explain renders the decision as trace lines, the rule that chose first.
// It allocates; it serves `meridian ctl explain` and the debug TXT name.
func (d *Decision) Explain() []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	switch d.Pool {
	case PoolUp:
		add("pool: %d up and accepting node(s)", d.Candidate)
	case PoolSecondary:
		add("pool: no primary node up: %d secondary node(s)", d.Candidate)
	case PoolFailOpen:
		add("pool: no node up: fail open to %d accepting node(s) whatever their health", d.Candidate)
	case PoolEmpty:
		add("pool: no accepting node: empty answer")
		return out
	default:
		add("pool: %s", d.Pool)
	}
	if d.Key.IsValid() {
		add("key: %s (rendezvous hashing)", d.Key)
	} else {
		add("key: none (no valid client address)")
	}
	out = append(out, "rule: "+d.ruleLine(d.Rule))
	if d.Then != RuleNone {
		out = append(out, "then: "+d.ruleLine(d.Then))
	}
	if d.Anycast {
		add("answer: the anycast address")
	} else {
		names := make([]string, d.N)
		for i, n := range d.Chosen() {
			names[i] = n.Name
		}
		add("answer: %s", strings.Join(names, ", "))
	}
	add("scope: /%d", d.Scope)
	return out
}

// ruleLine describes what rule r saw.
func (d *Decision) ruleLine(r Rule) string {
	switch r {
	case RulePrefix:
		return fmt.Sprintf("prefix: %s is the longest candidate prefix containing the client", d.Prefix)
	case RuleRandom:
		return "random: weighted rendezvous over the pool"
	case RuleSRV:
		return "srv: every candidate, rendezvous order"
	case RuleGeo:
		return fmt.Sprintf("geo: client at %.2f,%.2f (network %s); nearest node %.0f km away",
			d.Location.Lat, d.Location.Lon, d.Location.Network, d.Distance)
	case RuleGeoUnknown:
		return "geo-unknown: no client location: weighted rendezvous over the pool"
	case RuleTimezone:
		if d.Located {
			return fmt.Sprintf("timezone: client zone %s (network %s), offset %s", d.Location.TimeZone, d.Location.Network, formatOffset(d.Offset))
		}
		return "timezone: client offset " + formatOffset(d.Offset)
	case RuleAnycast:
		return "anycast: a candidate announces the anycast address"
	}
	return r.String()
}

// formatOffset writes a UTC offset as ParseOffset reads it, e.g. "+05:30".
func formatOffset(o time.Duration) string {
	m := int(o.Minutes())
	sign := '+'
	if m < 0 {
		sign, m = '-', -m
	}
	return fmt.Sprintf("%c%02d:%02d", sign, m/60, m%60)
}

package bgp

import (
	"context"
	"net/netip"
	"time"

	api "github.com/osrg/gobgp/v3/api"

	dirapi "github.com/meridian-traffic/meridian/api"
)

// Status is the speaker's state for the heartbeat and `meridian ctl bgp`.
type Status struct {
	Phase      Phase            `json:"phase"`
	Announcing []netip.Prefix   `json:"announcing,omitempty"` // announced now (also during graceful shutdown)
	Healthy    bool             `json:"healthy"`              // local health after rise/fall
	Accepting  bool             `json:"accepting"`
	Held       string           `json:"held,omitempty"` // operator withdraw reason
	LastChange time.Time        `json:"last_change"`
	Reason     string           `json:"reason"` // why the phase last changed
	Neighbors  []NeighborStatus `json:"neighbors"`
}

// NeighborStatus is one session.
type NeighborStatus struct {
	Address    netip.Addr    `json:"address"`
	ASN        uint32        `json:"asn"`
	State      string        `json:"state"`      // idle, connect, active, opensent, openconfirm, established
	Since      time.Time     `json:"since"`      // last state change
	Uptime     time.Duration `json:"uptime"`     // established for; 0 otherwise
	Advertised int           `json:"advertised"` // prefixes sent on this session
	Reason     string        `json:"reason"`     // last session event, e.g. a notification's code and subcode
	// LastError is the last thing that went wrong on the session: a
	// notification, a refused OPEN, no TCP session (a wrong MD5 password);
	// kept while the session is not established.
	LastError string `json:"last_error,omitempty"`
}

// Peers returns the sessions in the heartbeat's form.
func (s Status) Peers() []dirapi.BGPPeer {
	out := make([]dirapi.BGPPeer, 0, len(s.Neighbors))
	for _, n := range s.Neighbors {
		out = append(out, dirapi.BGPPeer{Neighbor: n.Address.String(), State: n.State, Since: n.Since, Reason: n.Reason, LastError: n.LastError})
	}
	return out
}

// Status returns the speaker's current state.
func (sp *Speaker) Status(ctx context.Context) (Status, error) {
	var st Status
	err := sp.submit(ctx, func(l *loop) { st = l.status(ctx) })
	return st, err
}

func (l *loop) status(ctx context.Context) Status {
	// States, uptime and counts come from GoBGP at every query; without
	// them the rest still holds.
	now := time.Now()
	info := l.reconcile(ctx, now)
	m := l.m
	st := Status{
		Phase:      m.phase,
		Healthy:    m.healthy(),
		Accepting:  m.accepting,
		Held:       m.held,
		LastChange: m.changedAt,
		Reason:     m.reason,
	}
	// A prefix is announced when it is in the RIB and a session of its
	// family is up to carry it: the heartbeat's word for "the network can
	// reach this node on it".
	if m.phase != PhaseWithdrawn {
		for _, p := range l.sp.set.prefixes {
			for _, ns := range l.neighbors {
				if ns.state == api.PeerState_ESTABLISHED && ns.n.addr.Is4() == p.Addr().Is4() {
					st.Announcing = append(st.Announcing, p)
					break
				}
			}
		}
	}
	for _, n := range l.sp.set.neighbors {
		ns := l.neighbors[n.addr]
		s := NeighborStatus{
			Address:   n.addr,
			ASN:       n.asn,
			State:     sessionState(ns.state),
			Since:     ns.since,
			Reason:    ns.reason,
			LastError: ns.lastError,
		}
		if pi, ok := info[n.addr]; ok {
			s.Advertised = int(pi.advertised)
			if !pi.uptime.IsZero() {
				s.Uptime = now.Sub(pi.uptime).Truncate(time.Millisecond)
			}
		}
		st.Neighbors = append(st.Neighbors, s)
	}
	return st
}

package node

import (
	"context"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/cluster"
)

// Part is something running on the node that follows the site: the relay,
// the BGP speaker. The agent calls it from one goroutine, never
// concurrently.
type Part interface {
	// Apply is called with every newly held snapshot and this node's entry
	// in it. Both are nil when the node no longer serves the site (removed,
	// or absent from the snapshot): stop serving. Snapshots that arrive
	// while Apply runs are coalesced: the next call gets the newest.
	Apply(ctx context.Context, snap *cluster.Snapshot, self *cluster.Node)
	// Heartbeat fills the part's fields of the next heartbeat (clients,
	// relay stats, BGP peers, announced prefixes).
	Heartbeat(hb *api.Heartbeat)
}

// Checker is an optional interface of a Part: a non-nil Check error makes
// the node's health endpoint answer 503, so the director stops sending
// clients to a node whose relay is down. Check runs on every probe,
// concurrently with Apply and Heartbeat, and must return within ctx.
type Checker interface {
	Check(ctx context.Context) error
}

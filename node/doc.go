// Package node is the traffic node agent: it follows the director's signed
// snapshots (serving the last-known-good one from its cache when the
// director is away, also across its own restart), answers its own health
// endpoint, sends heartbeats, and hands every new snapshot to the parts
// running on the node (relay, BGP speaker) through the Part interface.
package node

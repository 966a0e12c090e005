package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/api/client"
)

// ctlBGPNode is one node of `ctl bgp --json`: its speaker as the node's
// last heartbeat told the director, and the operator's withdraw.
type ctlBGPNode struct {
	Node          string          `json:"node"`
	Withdrawn     string          `json:"withdrawn,omitempty"` // the operator's reason
	Announcing    []netip.Prefix  `json:"announcing"`
	LastHeartbeat time.Time       `json:"last_heartbeat"`
	Speaker       *api.BGPSpeaker `json:"speaker,omitempty"` // nil: no speaker reported
	Neighbors     []api.BGPPeer   `json:"neighbors"`
}

// ctlBGP is `ctl bgp` (the speakers' table), `ctl bgp withdraw NODE
// [--reason TEXT]` and `ctl bgp resume NODE`.
func ctlBGP(ctx context.Context, c *ctlRun, args []string) error {
	if len(args) == 0 {
		return ctlBGPShow(ctx, c)
	}
	switch args[0] {
	case "withdraw", "resume":
	default:
		return fmt.Errorf("unknown bgp command %q; want bgp, bgp withdraw NODE or bgp resume NODE", args[0])
	}
	if err := wantArgs(args[1:], 1, "a node name"); err != nil {
		return err
	}
	node := args[1]
	res, show, err := call(ctx, c, func(a *client.Admin, ctx context.Context) (*api.ChangeResult, error) {
		if args[0] == "withdraw" {
			return a.BGPWithdraw(ctx, node, c.reason)
		}
		return a.BGPResume(ctx, node)
	})
	if !show {
		return err
	}
	verb := "withdrew"
	if args[0] == "resume" {
		verb = "resumed"
	}
	fmt.Fprintf(c.out, "%s anycast of %s: snapshot %d\n", verb, node, res.Version)
	return nil
}

func ctlBGPShow(ctx context.Context, c *ctlRun) error {
	nodes, show, err := call(ctx, c, func(a *client.Admin, ctx context.Context) ([]ctlBGPNode, error) {
		ns, err := a.Nodes(ctx)
		return bgpNodes(ns), err
	})
	if !show {
		return err
	}
	return bgpTable(c.out, nodes, time.Now())
}

func bgpNodes(ns []api.NodeStatus) []ctlBGPNode {
	out := make([]ctlBGPNode, 0, len(ns))
	for _, n := range ns {
		b := ctlBGPNode{Node: n.Name, Withdrawn: n.Withdrawn, Announcing: n.Announcing, LastHeartbeat: n.LastHeartbeat, Neighbors: []api.BGPPeer{}}
		if hb := n.Heartbeat; hb != nil {
			// The heartbeat is fresher than the snapshot's copy.
			b.Announcing, b.Speaker = hb.Announcing, hb.BGPSpeaker
			if hb.BGP != nil {
				b.Neighbors = hb.BGP
			}
		}
		out = append(out, b)
	}
	return out
}

// bgpTable prints one row per neighbor session; a node without sessions
// gets one row, so a node whose speaker is missing shows too.
func bgpTable(out io.Writer, nodes []ctlBGPNode, now time.Time) error {
	var rows []string
	for _, n := range nodes {
		phase, changed, why := "-", "-", "-"
		if s := n.Speaker; s != nil {
			phase, changed, why = dash(s.Phase), ago(s.LastChange, now), dash(s.Reason)
		}
		peers := n.Neighbors
		if len(peers) == 0 {
			peers = []api.BGPPeer{{}}
		}
		for _, p := range peers {
			since := "-"
			if p.State != "" {
				since = ago(p.Since, now)
			}
			lastErr := p.LastError
			if lastErr == p.Reason {
				lastErr = "" // said already
			}
			rows = append(rows, fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s",
				n.Node, dash(p.Neighbor), dash(p.State), since, dash(p.Reason), dash(lastErr),
				prefixes(n.Announcing), phase, dash(n.Withdrawn), changed, why))
		}
	}
	return table(out, "NODE\tNEIGHBOR\tSESSION\tSINCE\tSESSION REASON\tLAST ERROR\tANNOUNCING\tPHASE\tWITHDRAWN\tCHANGED\tREASON", rows)
}

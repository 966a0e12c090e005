package main

import (
	"context"
	"fmt"
	"time"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/api/client"
)

// ctlClients is `meridian ctl clients [--node N] [--json]`: the clients
// connected to the relays (the appliance's get_connected_clients), per node
// and per session, from the accounting in the nodes' last heartbeats.
func ctlClients(ctx context.Context, c *ctlRun, args []string) error {
	if err := wantArgs(args, 0, ""); err != nil {
		return err
	}
	return c.clients(ctx, c.node)
}

func (c *ctlRun) clients(ctx context.Context, node string) error {
	cl, show, err := call(ctx, c, func(a *client.Admin, ctx context.Context) (*api.Clients, error) { return a.Clients(ctx, node) })
	if !show {
		return err
	}
	now := time.Now()
	var rows []string
	for _, n := range cl.Nodes {
		if len(n.Users) == 0 {
			rows = append(rows, fmt.Sprintf("%s\t%s\t-\t0\t-\t-\t-", n.Node, ago(n.LastHeartbeat, now)))
		}
		for _, u := range n.Users {
			rows = append(rows, fmt.Sprintf("%s\t%s\t%s\t%d\t%s\t%d\t%d",
				n.Node, ago(n.LastHeartbeat, now), u.User, u.Allocations, ago(u.Since, now), u.ToPeerBytes, u.ToClientBytes))
		}
	}
	if err := table(c.out, "NODE\tHEARTBEAT\tUSER\tALLOCATIONS\tSINCE\tBYTES TO PEER\tBYTES TO CLIENT", rows); err != nil {
		return err
	}
	fmt.Fprintln(c.out)
	rows = rows[:0]
	for _, s := range cl.Sessions {
		state := "active"
		if !s.Active {
			state = "ended"
		}
		for _, p := range s.Parties {
			rows = append(rows, fmt.Sprintf("%s\t%s\t%s\t%s\t%d\t%d\t%d", s.ID, state, p.Party, p.Node, p.Allocations, p.ToPeerBytes, p.ToClientBytes))
		}
	}
	return table(c.out, "SESSION\tSTATE\tPARTY\tNODE\tALLOCATIONS\tBYTES TO PEER\tBYTES TO CLIENT", rows)
}

// GoBGP cannot set a TCP MD5 password or TTL on a Multipath TCP listener,
// which Go uses by default where the kernel has it.
//
//go:debug multipathtcp=0

// Command meridian is the one Meridian binary. Its first argument names the
// role: director, node, dns, ctl or demo. This package holds flags and
// wiring only.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage: meridian ROLE [flags]

roles:
  director   the control plane: site store (embedded etcd), health checks, sync, admin API
  node       a traffic node agent: sync, health endpoint, heartbeats
  dns        CoreDNS with the meridian plugin (meridian dns -conf Corefile)
  ctl        operator commands against a director (meridian ctl help)
  demo       the whole system on loopback, for trying it out (make run)
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	role, args := os.Args[1], os.Args[2:]
	var err error
	switch role {
	case "director":
		err = runDirector(ctx, args, os.Stdout)
	case "node":
		err = runNode(ctx, args, os.Stdout)
	case "dns":
		err = runDNS(ctx, args, os.Stdout)
	case "ctl":
		err = runCtl(ctx, args, os.Stdout)
	case "demo":
		err = runDemo(ctx, args, os.Stdout)
	case "-h", "-help", "--help", "help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "meridian: unknown role %q\n%s", role, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "meridian %s: %v\n", role, err)
		os.Exit(1)
	}
}

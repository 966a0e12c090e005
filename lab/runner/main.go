// Command runner builds the Meridian lab from a containerlab topology file
// with network namespaces on this machine, runs the real meridian roles
// and FRR in it, plays the lab's scenarios and removes everything again.
//
//	go run ./lab/runner -topology lab/topology.clab.yml -bin /tmp/lab-bin/meridian
//	go run ./lab/runner -clean
//
// It needs root. The table goes to stdout and to -results; the exit status
// is 1 when a scenario failed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/meridian-traffic/meridian/lab/labrun"
	"github.com/meridian-traffic/meridian/lab/netns"
)

func main() {
	// The runner runs itself inside the lab's namespaces for probes.
	if len(os.Args) > 1 && os.Args[1] == "probe" {
		if err := labrun.Probe(os.Args[2:], os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	os.Exit(run())
}

func run() int {
	topology := flag.String("topology", "lab/topology.clab.yml", "containerlab topology file")
	bin := flag.String("bin", "bin/meridian", "meridian binary to run in the lab")
	results := flag.String("results", "", "results file (default: results.json beside the topology)")
	runs := flag.Int("runs", 5, "repetitions of the timed failovers")
	clean := flag.Bool("clean", false, "remove leftovers of killed runs (namespaces named "+netns.Prefix+"*, their processes, run directories) and exit")
	keep := flag.Bool("keep", false, "keep the run directory with every process's log")
	verbose := flag.Bool("v", false, "log progress to stderr")
	hold := flag.Bool("hold", false, "keep the lab up after the scenarios until Ctrl-C (for looking around)")
	only := flag.String("scenarios", "", "play only these scenarios, e.g. 1,5 (default: all)")
	flag.Parse()
	var ids []int
	for _, f := range strings.FieldsFunc(*only, func(r rune) bool { return r == ',' || r == ' ' }) {
		id, err := strconv.Atoi(f)
		if err != nil {
			fmt.Fprintf(os.Stderr, "lab: -scenarios: %q is no scenario number\n", f)
			return 2
		}
		ids = append(ids, id)
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "lab: needs root (network namespaces)")
		return 2
	}
	if *clean {
		removed, err := labrun.Clean()
		for _, r := range removed {
			fmt.Println("removed", r)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "lab-clean:", err)
			return 1
		}
		return 0
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "lab:", err)
		return 2
	}
	binPath, err := filepath.Abs(*bin)
	if err == nil {
		_, err = os.Stat(binPath)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "lab: -bin:", err)
		return 2
	}
	if *results == "" {
		*results = filepath.Join(filepath.Dir(*topology), "results.json")
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = labrun.Run(ctx, labrun.Config{
		Topology: *topology, Bin: binPath, Self: self, Results: *results,
		Runs: *runs, Keep: *keep, Hold: *hold, Only: ids, Out: os.Stdout, Logger: logger,
	})
	switch {
	case err == nil:
		return 0
	case errors.Is(err, labrun.ErrFailed):
		return 1
	default:
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
}

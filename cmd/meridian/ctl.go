package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/meridian-traffic/meridian/cluster"
)

func runCtl(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("missing command; see meridian ctl help")
	}
	switch args[0] {
	case "validate":
		return ctlValidate(args[1:], out)
	}
	return fmt.Errorf("unknown command %q", args[0])
}

// ctlValidate checks site files offline.
func ctlValidate(args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("validate: want a site file")
	}
	bad := 0
	for _, f := range args {
		data, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("validate: %w", err)
		}
		s, err := cluster.Parse(f, data)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			bad++
			continue
		}
		fmt.Fprintf(out, "%s: site %s, %d nodes, method %s: ok\n", f, s.Name, len(s.Nodes), s.Selection.Method)
	}
	if bad > 0 {
		return fmt.Errorf("validate: %d of %d files invalid", bad, len(args))
	}
	return nil
}

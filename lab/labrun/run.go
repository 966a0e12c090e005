package labrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"
)

// ErrFailed is returned by Run when a scenario failed.
var ErrFailed = errors.New("lab: a scenario failed")

// scenario is one numbered scenario.
type scenario struct {
	id   int
	name string
	run  func(ctx context.Context, r *Result)
}

// Run builds the lab, plays every scenario, prints the table, writes the
// results file and removes everything it built, also when ctx is
// cancelled or setup fails.
func Run(ctx context.Context, cfg Config) (err error) {
	if cfg.Runs <= 0 {
		cfg.Runs = 5
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	e := &Env{cfg: cfg, log: cfg.Logger}
	defer func() {
		if cfg.Hold && e.lab != nil {
			fmt.Fprintf(cfg.Out, "lab %s held: namespaces %s-*, run directory %s; Ctrl-C removes it\n", e.lab.Run(), e.lab.Run(), e.dir)
			<-ctx.Done()
		}
		if terr := e.teardown(); terr != nil && err == nil {
			err = fmt.Errorf("lab teardown: %w", terr)
		}
	}()
	start := time.Now()
	if err := e.setup(ctx); err != nil {
		return fmt.Errorf("lab setup: %w", err)
	}
	e.log.Info("lab up", "took", time.Since(start).Round(time.Millisecond))
	rep := &Report{Run: e.lab.Run(), Started: start.UTC(), Topology: cfg.Topology, Passed: true}
	for _, s := range e.scenarios() {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if len(cfg.Only) > 0 && !slices.Contains(cfg.Only, s.id) {
			continue
		}
		e.log.Info("scenario", "id", s.id, "name", s.name)
		r := Result{ID: s.id, Name: s.name, Status: Pass}
		t0 := time.Now()
		s.run(ctx, &r)
		r.Took = time.Since(t0).Seconds()
		if r.Status == Fail {
			rep.Passed = false
		}
		e.log.Info("scenario done", "id", s.id, "status", r.Status, "detail", r.Detail)
		rep.Results = append(rep.Results, r)
	}
	rep.Seconds = time.Since(start).Seconds()
	printTable(cfg.Out, rep)
	if cfg.Results != "" {
		if err := writeJSON(cfg.Results, rep); err != nil {
			return err
		}
	}
	if !rep.Passed {
		return ErrFailed
	}
	return nil
}

func (e *Env) scenarios() []scenario {
	return []scenario{
		{1, "regional answers", e.regional},
		{2, "anycast reaches the region's node", e.anycast},
		{3, "node failure", e.nodeFailure},
		{4, "drain", e.drain},
		{5, "master failover", e.masterFailover},
		{6, "director down", e.directorDown},
		{7, "relay interop (coturn)", e.relayInterop},
		{8, "session end to end", e.session},
	}
}

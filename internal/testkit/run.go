package testkit

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// Running is a function run in the background for a test: a server, a
// subscriber, an agent.
type Running struct {
	t      testing.TB
	what   string
	within time.Duration
	cancel context.CancelFunc
	done   chan struct{}
	err    error // run's error, once done is closed
	once   sync.Once
	stop   error
}

// Go runs run in a goroutine with a context that ends when Stop is called
// or the test ends (then Stop is called for it). within bounds how long
// run may take to return once its context ended.
func Go(t testing.TB, what string, within time.Duration, run func(ctx context.Context) error) *Running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &Running{t: t, what: what, within: within, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = run(ctx)
	}()
	t.Cleanup(func() { _ = r.Stop() })
	return r
}

// Done is closed when run has returned.
func (r *Running) Done() <-chan struct{} { return r.done }

// Err is what run returned; call it only after Done is closed.
func (r *Running) Err() error { return r.err }

// Stop ends run's context and waits for it to return. The first call
// reports a non-nil error of run, or run not returning within the bound,
// as a test error and returns it; later calls return the same.
func (r *Running) Stop() error {
	r.once.Do(func() {
		r.cancel()
		select {
		case <-r.done:
			if r.err != nil {
				r.stop = fmt.Errorf("%s: %w", r.what, r.err)
			}
		case <-time.After(r.within):
			r.stop = fmt.Errorf("%s did not stop within %s", r.what, r.within)
		}
		if r.stop != nil {
			r.t.Error(r.stop)
		}
	})
	return r.stop
}

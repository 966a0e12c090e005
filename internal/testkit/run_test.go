package testkit_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/internal/testkit"
)

func TestGo(t *testing.T) {
	r := testkit.Go(t, "waiter", time.Second, func(ctx context.Context) error { <-ctx.Done(); return nil })
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.Done():
	default:
		t.Fatal("Done open after Stop")
	}
	quit := errors.New("quit")
	rec := &errorRecorder{TB: t}
	r = testkit.Go(rec, "quitter", time.Second, func(context.Context) error { return quit })
	<-r.Done()
	if !errors.Is(r.Err(), quit) {
		t.Errorf("Err = %v", r.Err())
	}
	if err := r.Stop(); !errors.Is(err, quit) || len(rec.errs) != 1 {
		t.Errorf("Stop = %v, reported %v; want quit, reported once", err, rec.errs)
	}
}

// errorRecorder keeps the errors reported to it instead of failing.
type errorRecorder struct {
	testing.TB
	errs []any
}

func (r *errorRecorder) Error(args ...any) { r.errs = append(r.errs, args...) }

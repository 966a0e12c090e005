package console

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// Event stream timing: a comment every keepAlive keeps proxies from
// closing an idle stream; a stream ends after streamLife (the browser
// reconnects at once, and its session is checked again).
const (
	keepAlive  = 15 * time.Second
	streamLife = 10 * time.Minute
)

// handleEvents is the live-update stream (server-sent events): an event
// "version" with the snapshot version served now, then one for every
// newer snapshot the director publishes (a node's health, a drain, a new
// config version), as soon as it publishes it.
func (c *Console) handleEvents(w http.ResponseWriter, r *http.Request) {
	s := c.session(r)
	if s == nil {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	if c.cfg.Versions == nil {
		http.Error(w, "no live updates", http.StatusNotImplemented)
		return
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	ctx, cancel := context.WithTimeout(r.Context(), streamLife)
	defer cancel()
	go func() {
		select {
		case <-c.stopping:
			cancel()
		case <-ctx.Done():
		}
	}()
	fmt.Fprintf(w, "retry: 1000\n\n")
	var v uint64
	for {
		wctx, wcancel := context.WithTimeout(ctx, keepAlive)
		next, err := c.cfg.Versions(wctx, v)
		wcancel()
		if ctx.Err() != nil || c.session(r) == nil {
			return
		}
		if err != nil {
			_, err = fmt.Fprintf(w, ": keep-alive\n\n")
		} else {
			v = next
			_, err = fmt.Fprintf(w, "event: version\ndata: %d\n\n", v)
		}
		if err != nil || rc.Flush() != nil {
			return
		}
	}
}

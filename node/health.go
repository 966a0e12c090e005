package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/meridian-traffic/meridian/api"
)

// Paths of the agent's own HTTP endpoint.
const (
	PathHealth = "/healthz" // 200 "ok" while the node serves the site, else 503 with the reason
	PathInfo   = "/v1/node" // Info as JSON
)

// checkTimeout bounds the parts' health checks within one probe: the
// director's probe timeout is 500 ms by default.
const checkTimeout = 400 * time.Millisecond

// Info is the answer of GET /v1/node.
type Info struct {
	Name              string    `json:"name"`
	Site              string    `json:"site"`
	Version           uint64    `json:"version"` // snapshot held, 0 = none
	ConfigVersion     uint64    `json:"config_version"`
	Serving           bool      `json:"serving"` // health answers 200
	Reason            string    `json:"reason,omitempty"`
	FromCache         bool      `json:"from_cache"`
	Director          string    `json:"director"` // base URL of the director in use
	DirectorReachable bool      `json:"director_reachable"`
	Removed           bool      `json:"removed"`
	LastSync          time.Time `json:"last_sync"`
	LastError         string    `json:"last_error,omitempty"`
	// KeyRefused: the director refuses the agent's signed requests (see
	// client.SubscriberStats.KeyRefused); KeyRefusal is its answer.
	KeyRefused bool         `json:"key_refused"`
	KeyRefusal string       `json:"key_refusal,omitempty"`
	Uptime     api.Duration `json:"uptime"`
}

// Info reports the agent's state, as GET /v1/node does.
func (a *Agent) Info(ctx context.Context) Info {
	st := a.sub.Stats()
	in := Info{
		Name:              a.cfg.Name,
		Site:              st.Site,
		Version:           st.Version,
		FromCache:         st.FromCache,
		Director:          st.Director,
		DirectorReachable: st.Reachable,
		Removed:           st.Removed,
		LastSync:          st.LastSuccess,
		LastError:         st.LastError,
		KeyRefused:        st.KeyRefused,
		KeyRefusal:        st.KeyRefusal,
		Uptime:            api.Duration(time.Since(a.started)),
	}
	if s := a.sub.Current(); s != nil {
		in.ConfigVersion = s.ConfigVersion
	}
	if err := a.serving(ctx); err != nil {
		in.Reason = err.Error()
	} else {
		in.Serving = true
	}
	return in
}

// serving returns why the node does not serve the site, or nil.
func (a *Agent) serving(ctx context.Context) error {
	if a.sub.Stats().Removed {
		return errors.New("removed from the site")
	}
	snap := a.sub.Current()
	if snap == nil {
		if st := a.sub.Stats(); st.KeyRefused {
			return fmt.Errorf("no snapshot yet: the director %s refused our key (%s)", st.KeyRefusedBy, st.KeyRefusal)
		}
		return errors.New("no snapshot yet")
	}
	if snap.Config.Node(a.cfg.Name) == nil {
		return fmt.Errorf("node %s is not in site %s version %d", a.cfg.Name, snap.Site, snap.Version)
	}
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	for _, p := range a.cfg.Parts {
		if c, ok := p.(Checker); ok {
			if err := c.Check(ctx); err != nil {
				return fmt.Errorf("%T: %w", p, err)
			}
		}
	}
	return nil
}

// healthServer is the agent's HTTP endpoint.
type healthServer struct {
	srv  *http.Server
	mu   sync.Mutex
	done chan struct{} // closed when Serve returns; nil before start
}

func newHealthServer(a *Agent) *healthServer {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathHealth, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if err := a.serving(r.Context()); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, err)
			return
		}
		fmt.Fprint(w, "ok")
	})
	mux.HandleFunc("GET "+PathInfo, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(a.Info(r.Context()))
	})
	if a.cfg.Metrics != nil {
		mux.Handle("GET /metrics", a.cfg.Metrics)
	}
	return &healthServer{srv: &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelDebug),
	}}
}

// start listens on addr and serves; it returns the bound address.
func (h *healthServer) start(addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	h.mu.Lock()
	h.done = make(chan struct{})
	done := h.done
	h.mu.Unlock()
	go func() {
		defer close(done)
		_ = h.srv.Serve(ln)
	}()
	return ln.Addr().String(), nil
}

// stop closes the listener and waits for Serve to return.
func (h *healthServer) stop() {
	h.mu.Lock()
	done := h.done
	h.mu.Unlock()
	if done == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := h.srv.Shutdown(ctx); err != nil {
		_ = h.srv.Close()
	}
	<-done
}

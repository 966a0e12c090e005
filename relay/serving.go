package relay

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Transport is how a client reaches the relay; it also names the
// listeners in health errors and metric labels.
type Transport string

// Transports.
const (
	TransportUDP Transport = "udp"
	TransportTCP Transport = "tcp"
	TransportTLS Transport = "tls"
)

// Accept backoff after a temporary error, as net/http.Server does.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
	// acceptLogEvery is the least time between two accept error log lines
	// of one listener; the lines in between are counted, not written.
	acceptLogEvery = time.Second
)

// serveState tells whether one listener still serves: its loop in pion
// ends when the listener returns an error, and the error is kept here.
type serveState struct {
	transport Transport
	name      string // transport and address, as health errors name it

	mu      sync.Mutex
	err     error // why the listener stopped; nil while it serves
	retired bool  // closed by an Update that replaced it
}

// retire notes that the listener is being replaced: its end is expected.
func (s *serveState) retire() {
	s.mu.Lock()
	s.retired = true
	s.mu.Unlock()
}

func newServeState(t Transport, addr net.Addr, socket, sockets int) serveState {
	name := string(t) + " " + addr.String()
	if sockets > 1 {
		name = fmt.Sprintf("%s (socket %d of %d)", name, socket+1, sockets)
	}
	return serveState{transport: t, name: name}
}

// stop records that the listener stopped serving; the first cause wins.
func (s *serveState) stop(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
}

// failure returns why the listener stopped, or nil while it serves.
func (s *serveState) failure() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// stopped records a listener's end and, unless the relay is shutting
// down, logs it: the listener no longer serves clients.
func (r *Relay) stopped(s *serveState, err error) {
	s.mu.Lock()
	retired := s.retired
	s.mu.Unlock()
	// Logged before it is recorded: whoever sees the failure finds its
	// line.
	if !r.stopping.Load() && !retired {
		r.log.Error("relay listener stopped serving", "listener", s.name, "err", err)
	}
	s.stop(err)
}

// Serving returns nil while the relay serves clients on every listener,
// else an error wrapping ErrListenerDown that names each listener that
// stopped (its serve loop ended on a permanent error, or the listener was
// closed while the relay runs), or ErrClosed once the relay shuts down.
func (r *Relay) Serving() error {
	if r.stopping.Load() {
		return ErrClosed
	}
	select {
	case <-r.closed:
		return ErrClosed
	default:
	}
	var down []string
	for _, s := range r.serveStates() {
		if err := s.failure(); err != nil {
			down = append(down, s.name+": "+err.Error())
		}
	}
	if len(down) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrListenerDown, strings.Join(down, "; "))
}

// serveStates lists every listener's state: UDP sockets, then TCP and TLS.
func (r *Relay) serveStates() []*serveState {
	r.lmu.Lock()
	defer r.lmu.Unlock()
	out := make([]*serveState, 0, len(r.udp)+len(r.listeners))
	for _, u := range r.udp {
		out = append(out, &u.state)
	}
	for _, l := range r.listeners {
		out = append(out, &l.state)
	}
	return out
}

// temporaryAcceptError reports whether an accept error leaves the listener
// usable after a pause: out of file descriptors or buffers, a connection
// aborted before it was accepted, a timeout.
func temporaryAcceptError(err error) bool {
	if err == nil || errors.Is(err, net.ErrClosed) {
		return false
	}
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ECONNABORTED, syscall.ENOBUFS, syscall.ENOMEM, syscall.EINTR, syscall.EAGAIN} {
		if errors.Is(err, errno) {
			return true
		}
	}
	var tmp interface{ Temporary() bool }
	if errors.As(err, &tmp) && tmp.Temporary() {
		return true
	}
	var to interface{ Timeout() bool }
	return errors.As(err, &to) && to.Timeout()
}

// nextBackoff doubles the accept delay from acceptBackoffMin up to
// acceptBackoffMax.
func nextBackoff(d time.Duration) time.Duration {
	if d == 0 {
		return acceptBackoffMin
	}
	return min(2*d, acceptBackoffMax)
}

// logLimiter lets at most one line through per interval and counts the
// ones it holds back.
type logLimiter struct {
	every time.Duration

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// allow reports whether a line may be written at now and, if so, how many
// were held back since the last one written.
func (l *logLimiter) allow(now time.Time) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.Sub(l.last) < l.every {
		l.suppressed++
		return false, 0
	}
	l.last, suppressed, l.suppressed = now, l.suppressed, 0
	return true, suppressed
}

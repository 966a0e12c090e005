package director

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meridian-traffic/meridian/cluster"
)

// authWindow is the clock allowance of PSK-signed requests (issue 3: ±30 s).
const authWindow = 30 * time.Second

// maxBody bounds request bodies: a site file or a heartbeat.
const maxBody = 1 << 20

// Refusal reasons, the label values of meridian_director_auth_refused_total.
const (
	refusedMissing = "missing"
	refusedClock   = "clock"
	refusedMAC     = "mac"
	refusedReplay  = "replay"
	refusedBusy    = "replay_cache_full"
	refusedToken   = "token"
)

// pskHandler handles a PSK-authenticated request whose body was read.
type pskHandler func(w http.ResponseWriter, r *http.Request, body []byte)

// withPSK checks the Meridian request signature and the nonce. A refusal
// says only "unauthorized": the reason goes to the metric and a log line
// that carries no key, MAC or nonce.
func (d *Director) withPSK(h pskHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			writeError(w, http.StatusRequestEntityTooLarge, "request body too large")
			return
		}
		now := time.Now()
		nonce, err := d.auth.Check(r.Header.Get("Authorization"), r.Method, r.URL.RequestURI(), body, now, authWindow)
		reason := ""
		switch {
		case errors.Is(err, cluster.ErrAuthClock):
			reason = refusedClock
		case errors.Is(err, cluster.ErrAuthMAC):
			reason = refusedMAC
		case err != nil:
			reason = refusedMissing
		default:
			switch d.nonces.add(nonce, now) {
			case nonceReplay:
				reason = refusedReplay
			case nonceFull:
				reason = refusedBusy
			}
		}
		if reason != "" {
			d.refuse(w, r, reason)
			return
		}
		h(w, r, body)
	}
}

// withAdmin checks the bearer token in constant time. Both sides are
// hashed first so that the comparison does not leak the token's length.
func (d *Director) withAdmin(h http.HandlerFunc) http.HandlerFunc {
	want := sha256.Sum256([]byte(d.cfg.AdminToken))
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		got := sha256.Sum256([]byte(tok))
		if !ok || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			d.refuse(w, r, refusedToken)
			return
		}
		// A member cut off from its cluster fails store calls at once
		// instead of holding the operator until a timeout.
		h(w, r.WithContext(clientv3.WithRequireLeader(r.Context())))
	}
}

func (d *Director) refuse(w http.ResponseWriter, r *http.Request, reason string) {
	d.met.refused.WithLabelValues(reason).Inc()
	d.log.Warn("request refused", "reason", reason, "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
	status := http.StatusUnauthorized
	if reason == refusedBusy {
		status = http.StatusServiceUnavailable
	}
	writeError(w, status, http.StatusText(status))
}

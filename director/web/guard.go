package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/meridian-traffic/meridian/internal/metrics"

	"github.com/prometheus/client_golang/prometheus"
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
	// RefusedToken is a missing or wrong bearer token.
	RefusedToken = "token"
)

// Guard authenticates the director's requests.
type Guard struct {
	auth      *cluster.RequestAuth
	nonces    *nonceCache
	operators []adminToken
	refused   *prometheus.CounterVec // by reason
	subs      *refusals              // refused subscribers, by claimed id
	log       *slog.Logger
}

// NewGuard checks requests signed with psk and admin requests bearing one
// of the operators' admin tokens, and registers the refusal counter with
// reg.
func NewGuard(psk cluster.PSK, admins []cluster.NamedToken, reg prometheus.Registerer, log *slog.Logger) (*Guard, error) {
	g := &Guard{
		auth:      cluster.NewRequestAuth(psk),
		nonces:    newNonceCache(2*authWindow+time.Second, maxNonces),
		operators: hashAdmins(admins),
		refused: metrics.CounterVec("meridian_director_auth_refused_total",
			"Requests refused by authentication, by reason.", "reason"),
		subs: newRefusals(),
		log:  log,
	}
	refusedSubs := metrics.GaugeFunc("meridian_director_refused_subscribers",
		"Subscribers (by claimed id, kind and reason) whose requests were refused in the last 15 minutes and not accepted since.", func() float64 { return float64(len(g.subs.list(time.Now()))) })
	if err := metrics.Register(reg, "director", g.refused, refusedSubs); err != nil {
		return nil, err
	}
	return g, nil
}

// PSKHandler handles a PSK-authenticated request whose body was read.
type PSKHandler func(w http.ResponseWriter, r *http.Request, body []byte)

// WithPSK checks the Meridian request signature and the nonce. A refusal
// says only "unauthorized": the reason goes to the metric, the table of
// refused subscribers (status) and a log line naming the subscriber the
// request claims to be, rate-limited per subscriber and reason, that
// carries no key, MAC or nonce.
func (g *Guard) WithPSK(h PSKHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			WriteError(w, http.StatusRequestEntityTooLarge, "request body too large")
			return
		}
		now := time.Now()
		nonce, err := g.auth.Check(r.Header.Get("Authorization"), r.Method, r.URL.RequestURI(), body, now, authWindow)
		reason := ""
		switch {
		case errors.Is(err, cluster.ErrAuthClock):
			reason = refusedClock
		case errors.Is(err, cluster.ErrAuthMAC):
			reason = refusedMAC
		case err != nil:
			reason = refusedMissing
		default:
			switch g.nonces.add(nonce, now) {
			case nonceReplay:
				reason = refusedReplay
			case nonceFull:
				reason = refusedBusy
			}
		}
		if reason != "" {
			g.subscriberRefused(r, body, reason, now)
			writeRefusal(w, reason)
			return
		}
		g.subscriberAccepted(r, body)
		h(w, r, body)
	}
}

// WithAdmin checks the bearer token in constant time against every
// operator's token: both sides are hashed first so that the comparison
// does not leak a token's length, and every token is compared so that the
// time does not tell which one matched. The handler's context names the
// operator (Operator).
func (g *Guard) WithAdmin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		got := sha256.Sum256([]byte(tok))
		name := ""
		for _, a := range g.operators {
			if subtle.ConstantTimeCompare(got[:], a.hash[:]) == 1 {
				name = a.name
			}
		}
		if !ok || name == "" {
			g.refuse(w, r, RefusedToken)
			return
		}
		ctx := withOperator(r.Context(), name)
		// A member cut off from its cluster fails store calls at once
		// instead of holding the operator until a timeout.
		h(w, r.WithContext(clientv3.WithRequireLeader(ctx)))
	}
}

// Refused counts and logs a refusal whose answer the caller writes.
func (g *Guard) Refused(r *http.Request, reason string) {
	g.refused.WithLabelValues(reason).Inc()
	g.log.Warn("request refused", "reason", reason, "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
}

func (g *Guard) refuse(w http.ResponseWriter, r *http.Request, reason string) {
	g.Refused(r, reason)
	writeRefusal(w, reason)
}

func writeRefusal(w http.ResponseWriter, reason string) {
	status := http.StatusUnauthorized
	if reason == refusedBusy {
		status = http.StatusServiceUnavailable
	}
	WriteError(w, status, http.StatusText(status))
}

package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/cluster"
)

// Defaults of SubscriberConfig.
const (
	DefaultMinBackoff = 250 * time.Millisecond
	DefaultMaxBackoff = 10 * time.Second
	// pollSlack is added to the long-poll wait for the request deadline: the
	// director answers 204 at the end of its wait, the slack covers the
	// network and a busy director.
	pollSlack = 15 * time.Second
	// directorWait is the default long-poll wait, the director's (api.go).
	directorWait = 30 * time.Second
	// maxRefusal bounds the reason sent with ?failed= (the director keeps
	// 200 bytes).
	maxRefusal = 200
)

// SubscriberConfig configures a Subscriber. Zero values are defaults.
type SubscriberConfig struct {
	// Directors are the base URLs of the site's directors, e.g.
	// http://10.0.0.1:7700, tried in this order: the subscriber stays on
	// one until it is unreachable or answers 5xx, then moves to the next
	// (round robin). When Directors is empty, Director is the only one;
	// when both are set, Directors wins and Director is ignored.
	Directors  []string
	Director   string                  // a single base URL, e.g. http://127.0.0.1:7700; see Directors
	PSK        cluster.PSK             // the site's pre-shared key
	Site       string                  // expected site; "" pins the site of the first verified snapshot (cache or director)
	ID         string                  // subscriber id, e.g. "us-traffic1" or "dns/ns1"
	Kind       string                  // api.KindNode, api.KindDNS or api.KindDirector
	GeoIP      string                  // the build of the GeoIP database in use (geoip.DB.Build), reported on every poll; "" = none
	CacheFile  string                  // last-known-good snapshot; "" = no cache
	HTTPClient *http.Client            // nil = DefaultHTTPClient(); must not have an overall Timeout shorter than Wait
	Logger     *slog.Logger            // nil = discard
	OnSnapshot func(*cluster.Snapshot) // called from Run's goroutine for every newly verified snapshot, including one loaded from cache at start
	OnRemoved  func()                  // called from Run's goroutine on 410 Gone: the node was removed from the site

	// Wait is the long-poll wait asked of the director (?wait=; default
	// 30 s, the director's own default). The director may wait less.
	Wait time.Duration
	// MinBackoff and MaxBackoff bound the retry delay while the director is
	// away or answers errors (defaults 250 ms and 10 s); the delay doubles
	// from MinBackoff up to MaxBackoff, with jitter.
	MinBackoff, MaxBackoff time.Duration
}

// SubscriberStats is what a subscriber can tell about its sync.
type SubscriberStats struct {
	Site        string    `json:"site"`
	Version     uint64    `json:"version"`      // version held, 0 = none
	FromCache   bool      `json:"from_cache"`   // the held snapshot came from the cache, not yet from the director
	Director    string    `json:"director"`     // base URL of the director in use
	Reachable   bool      `json:"reachable"`    // the last request got an answer from the director
	Failovers   uint64    `json:"failovers"`    // moves to the next director since start
	Removed     bool      `json:"removed"`      // the director said the node was removed
	LastSuccess time.Time `json:"last_success"` // last 200 or 204 from the director
	LastError   string    `json:"last_error"`   // last problem; never holds a secret
	Errors      uint64    `json:"errors"`       // problems since start
	Refused     uint64    `json:"refused"`      // snapshots refused (bad signature, foreign, stale, corrupt cache)
	// KeyRefused: the director in use answered our signed requests 401,
	// its word for a request signature that does not verify (a pre-shared
	// key other than its own) or a clock more than 30 s off. It clears
	// with the next request the director accepts.
	KeyRefused      bool      `json:"key_refused"`
	KeyRefusedBy    string    `json:"key_refused_by,omitempty"`   // the director's base URL
	KeyRefusedSince time.Time `json:"key_refused_since,omitzero"` // first refusal of this spell
	KeyRefusal      string    `json:"key_refusal,omitempty"`      // the director's answer, e.g. "401 Unauthorized"
}

// Subscriber keeps the newest verified snapshot of one site.
type Subscriber struct {
	cfg   SubscriberConfig
	bases []*url.URL // the directors, in order; never empty
	auth  *cluster.RequestAuth
	hc    *http.Client
	log   *slog.Logger

	cur       atomic.Pointer[cluster.Snapshot]
	running   atomic.Bool
	cacheOnce sync.Once

	mu      sync.Mutex // guards the fields below
	site    string     // pinned site, "" until known
	refusal string     // refusal reason to report on the next poll (?failed=)
	env     []byte     // envelope of cur, to recognise a repeated one
	at      int        // index in bases of the director in use
	stats   SubscriberStats
}

// NewSubscriber checks cfg and returns a subscriber; Run starts it.
func NewSubscriber(cfg SubscriberConfig) (*Subscriber, error) {
	bases, err := parseBases(cfg.Directors, cfg.Director)
	if err != nil {
		return nil, err
	}
	if cfg.PSK.IsZero() {
		return nil, errors.New("subscriber: no pre-shared key")
	}
	if cfg.ID == "" {
		return nil, errors.New("subscriber: no id")
	}
	switch cfg.Kind {
	case api.KindNode, api.KindDNS, api.KindDirector:
	default:
		return nil, fmt.Errorf("subscriber: kind %q: want %s, %s or %s", cfg.Kind, api.KindNode, api.KindDNS, api.KindDirector)
	}
	if cfg.Wait < 0 || cfg.MinBackoff < 0 || cfg.MaxBackoff < 0 {
		return nil, errors.New("subscriber: negative wait or backoff")
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = cfg.MinBackoff
	}
	s := &Subscriber{cfg: cfg, bases: bases, auth: cluster.NewRequestAuth(cfg.PSK), hc: cfg.HTTPClient, log: cfg.Logger, site: cfg.Site}
	if s.hc == nil {
		s.hc = DefaultHTTPClient()
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.stats.Site = cfg.Site
	s.stats.Director = bases[0].String()
	return s, nil
}

// parseBases checks the director URLs: list if not empty, else one. A
// repeated URL is dropped, so round robin does not favour it.
func parseBases(list []string, one string) ([]*url.URL, error) {
	if len(list) == 0 {
		list = []string{one}
	}
	var bases []*url.URL
	seen := make(map[string]bool, len(list))
	for _, d := range list {
		u, err := parseBase(d)
		if err != nil {
			return nil, fmt.Errorf("subscriber: %w", err)
		}
		if k := u.String(); !seen[k] {
			seen[k] = true
			bases = append(bases, u)
		}
	}
	return bases, nil
}

// director returns the director in use and its index, for a later
// failover.
func (s *Subscriber) director() (int, *url.URL) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.at, s.bases[s.at]
}

// failover moves to the next director if err says director i cannot serve
// (unreachable or 5xx) and i is still the one in use: a long-poll and a
// heartbeat failing together move once, not twice. A 4xx answer is about
// the request or the subscriber, the same on every director: no move.
func (s *Subscriber) failover(i int, err error) {
	if len(s.bases) < 2 || !switchOn(err) {
		return
	}
	s.mu.Lock()
	if s.at != i {
		s.mu.Unlock()
		return
	}
	s.at = (i + 1) % len(s.bases)
	next := s.bases[s.at].String()
	s.stats.Director = next
	s.stats.Failovers++
	s.mu.Unlock()
	s.log.Warn("director failover", "subscriber", s.cfg.ID, "from", s.bases[i].String(), "to", next, "err", err)
}

// switchOn reports whether err is worth trying another director for: no
// answer at all, or a 5xx.
func switchOn(err error) bool {
	if err == nil {
		return false
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status >= 500
	}
	return true
}

// Current returns the newest verified snapshot, or nil. It never blocks.
func (s *Subscriber) Current() *cluster.Snapshot { return s.cur.Load() }

// Stats returns a copy of the sync statistics.
func (s *Subscriber) Stats() SubscriberStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Site = s.site
	return st
}

// Run loads the cache, then follows the director until ctx is done, and
// returns nil then. Problems (director away, refused snapshots) are counted
// in Stats and retried with backoff; they never end Run. Run may be called
// once.
func (s *Subscriber) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("subscriber: Run called twice")
	}
	s.LoadCache()
	fails := 0
	for ctx.Err() == nil {
		err := s.poll(ctx)
		if ctx.Err() != nil {
			break
		}
		if err == nil {
			fails = 0
			continue
		}
		fails++
		// A failover tries the next director after MinBackoff; the delay
		// grows only with whole rounds of failed directors, and stays
		// capped at MaxBackoff.
		delay := s.backoff((fails-1)/len(s.bases) + 1)
		if errors.Is(err, ErrRemoved) {
			// Idle but listening: a node added back gets the site again.
			delay = s.cfg.MaxBackoff
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
	return nil
}

// backoff returns the delay after n failures in a row: doubling from
// MinBackoff, capped at MaxBackoff, with up to 25% jitter so that many
// subscribers do not return to a restarted director in step.
func (s *Subscriber) backoff(n int) time.Duration {
	d := s.cfg.MinBackoff
	for i := 1; i < n && d < s.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, s.cfg.MaxBackoff)
	return d - time.Duration(rand.Int64N(int64(d)/4+1))
}

// LoadCache verifies the cached snapshot and serves it if it is good,
// once: Run does it first, an owner that reports the version held before
// Run's goroutine gets there (a node's first heartbeat) calls it itself.
func (s *Subscriber) LoadCache() { s.cacheOnce.Do(s.loadCache) }

func (s *Subscriber) loadCache() {
	if s.cfg.CacheFile == "" {
		return
	}
	env, err := os.ReadFile(s.cfg.CacheFile)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		s.fail(fmt.Errorf("read cache: %w", err), false)
		return
	}
	snap, err := s.verify(env, 0)
	if err != nil {
		s.fail(fmt.Errorf("cached snapshot %s refused: %w", s.cfg.CacheFile, err), true)
		return
	}
	s.log.Info("serving cached snapshot", "site", snap.Site, "version", snap.Version)
	s.accept(snap, env, true)
}

// poll runs one long-poll request.
func (s *Subscriber) poll(ctx context.Context) error {
	held := uint64(0)
	if c := s.cur.Load(); c != nil {
		held = c.Version
	}
	q := url.Values{
		"after":      {strconv.FormatUint(held, 10)},
		"subscriber": {s.cfg.ID},
		"kind":       {s.cfg.Kind},
	}
	if s.cfg.GeoIP != "" {
		q.Set("geoip", s.cfg.GeoIP)
	}
	s.mu.Lock()
	if s.refusal != "" {
		// The director records it in the sync status history ("failed").
		q.Set("failed", s.refusal)
	}
	s.mu.Unlock()
	// Always name the wait: the director waits at most this long, so the
	// request deadline below covers its answer whatever its own setting.
	wait := directorWait
	if s.cfg.Wait > 0 {
		wait = s.cfg.Wait
	}
	q.Set("wait", wait.String())
	at, base := s.director()
	u := endpoint(base, api.PathSync, q)
	rctx, cancel := context.WithTimeout(ctx, wait+pollSlack)
	defer cancel()
	body, status, err := s.do(rctx, http.MethodGet, u, nil)
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		s.failover(at, err)
		var ae *APIError
		if errors.As(err, &ae) && ae.Status == http.StatusGone {
			s.removed()
			return ErrRemoved
		}
		s.fail(err, false)
		return err
	}
	s.mu.Lock()
	s.refusal = ""
	s.mu.Unlock()
	if status == http.StatusNoContent {
		s.succeed()
		return nil
	}
	snap, err := s.verify(body, held)
	if err != nil {
		err = fmt.Errorf("snapshot refused: %w", err)
		s.fail(err, true)
		s.mu.Lock()
		s.refusal = truncate(err.Error(), maxRefusal)
		s.mu.Unlock()
		return err
	}
	s.succeed()
	if snap == nil { // the one held, sent again ("sync now")
		return nil
	}
	s.log.Info("snapshot received", "site", snap.Site, "version", snap.Version, "config_version", snap.ConfigVersion)
	if s.cfg.CacheFile != "" {
		if err := writeFileAtomic(s.cfg.CacheFile, body); err != nil {
			// Still serve it: the cache only matters across a restart.
			s.fail(err, false)
		}
	}
	s.accept(snap, body, false)
	return nil
}

// do sends one PSK-signed request and returns the body and status of a
// 2xx answer.
func (s *Subscriber) do(ctx context.Context, method string, u *url.URL, body []byte) ([]byte, int, error) {
	req, err := newRequest(ctx, method, u, body)
	if err != nil {
		return nil, 0, err
	}
	n, err := nonce()
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Authorization", s.auth.Header(method, u.RequestURI(), body, time.Now(), n))
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		s.setReachable(false)
		return nil, 0, fmt.Errorf("director %s: %w", u.Path, err)
	}
	defer resp.Body.Close()
	s.setReachable(true)
	b, err := readAnswer(resp, u.Path)
	s.keyState(u, resp.StatusCode, err)
	return b, resp.StatusCode, err
}

// keyState follows whether the director accepts our signed requests: a
// 401 says it does not, any 2xx that it does. The change is logged once
// each way, not per request.
func (s *Subscriber) keyState(u *url.URL, status int, err error) {
	refused := status == http.StatusUnauthorized
	if !refused && (status < 200 || status > 299) {
		return // says nothing about the key
	}
	director := (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: strings.TrimSuffix(u.Path, pathOf(u.Path))}).String()
	s.mu.Lock()
	was, since, by := s.stats.KeyRefused, s.stats.KeyRefusedSince, s.stats.KeyRefusedBy
	if refused == was && (!refused || by == director) {
		s.mu.Unlock()
		return
	}
	now := time.Now()
	s.stats.KeyRefused = refused
	if refused {
		answer := fmt.Sprintf("%d %s", status, http.StatusText(status))
		var ae *APIError
		if errors.As(err, &ae) && ae.Message != "" && ae.Message != http.StatusText(status) {
			answer += ": " + ae.Message
		}
		s.stats.KeyRefusedBy, s.stats.KeyRefusal = director, answer
		if !was {
			s.stats.KeyRefusedSince = now
		}
	} else {
		s.stats.KeyRefusedBy, s.stats.KeyRefusal, s.stats.KeyRefusedSince = "", "", time.Time{}
	}
	held := s.stats.Version
	s.mu.Unlock()
	if refused {
		s.log.Error("the director refused our key", "subscriber", s.cfg.ID, "kind", s.cfg.Kind, "director", director,
			"status", status, "reason", http.StatusText(status), "path", u.Path, "holding", held,
			"hint", "the pre-shared key differs from the director's, or this host's clock is more than 30s off the director's")
		return
	}
	s.log.Info("the director accepts our key again", "subscriber", s.cfg.ID, "kind", s.cfg.Kind, "director", director,
		"refused_for", now.Sub(since).Round(time.Millisecond))
}

// pathOf returns the API path at the end of a request path (the director
// URL may have a path prefix).
func pathOf(p string) string {
	for _, api := range []string{api.PathSync, api.PathHeartbeat} {
		if strings.HasSuffix(p, api) {
			return api
		}
	}
	return ""
}

// verify checks an envelope against the pinned site (pinning it if none)
// and the version held. It returns nil, nil for the envelope already held.
func (s *Subscriber) verify(env []byte, held uint64) (*cluster.Snapshot, error) {
	s.mu.Lock()
	site, same := s.site, held != 0 && string(env) == string(s.env)
	s.mu.Unlock()
	if same {
		return nil, nil
	}
	if site == "" {
		// Learn the site from the payload; the MAC check below makes it
		// authentic, so pinning it is safe.
		var e cluster.Envelope
		if err := json.Unmarshal(env, &e); err != nil {
			return nil, fmt.Errorf("decode envelope: %w", err)
		}
		peek, err := cluster.DecodeSnapshot(e.Payload)
		if err != nil {
			return nil, err
		}
		site = peek.Site
	}
	snap, err := cluster.NewSnapshotSigner(s.cfg.PSK, site).Verify(env, held)
	if err != nil {
		return nil, err
	}
	return snap, nil
}

// accept makes snap current and tells the owner.
func (s *Subscriber) accept(snap *cluster.Snapshot, env []byte, fromCache bool) {
	s.mu.Lock()
	s.site = snap.Site
	s.env = env
	s.stats.Version = snap.Version
	s.stats.FromCache = fromCache
	s.stats.Removed = false
	s.mu.Unlock()
	s.cur.Store(snap)
	if s.cfg.OnSnapshot != nil {
		s.cfg.OnSnapshot(snap)
	}
}

// removed drops the snapshot and the cache after a 410 Gone.
func (s *Subscriber) removed() {
	s.mu.Lock()
	was := s.stats.Removed
	s.stats.Removed = true
	s.stats.Version = 0
	s.stats.FromCache = false
	s.stats.LastSuccess = time.Now()
	s.env = nil
	s.mu.Unlock()
	s.cur.Store(nil)
	if s.cfg.CacheFile != "" {
		if err := removeFile(s.cfg.CacheFile); err != nil {
			s.fail(err, false)
		}
	}
	if was {
		return
	}
	s.log.Warn("removed from the site: snapshot dropped", "subscriber", s.cfg.ID)
	if s.cfg.OnRemoved != nil {
		s.cfg.OnRemoved()
	}
}

func (s *Subscriber) succeed() {
	s.mu.Lock()
	s.stats.LastSuccess = time.Now()
	s.mu.Unlock()
}

func (s *Subscriber) setReachable(ok bool) {
	s.mu.Lock()
	s.stats.Reachable = ok
	s.mu.Unlock()
}

// fail records a problem; refused marks a snapshot that did not verify.
func (s *Subscriber) fail(err error, refused bool) {
	s.mu.Lock()
	s.stats.Errors++
	if refused {
		s.stats.Refused++
	}
	s.stats.LastError = err.Error()
	s.mu.Unlock()
	if IsStatus(err, http.StatusUnauthorized) {
		// keyState logged it once; one line per poll would drown it.
		s.log.Debug("sync problem", "subscriber", s.cfg.ID, "err", err)
		return
	}
	s.log.Warn("sync problem", "subscriber", s.cfg.ID, "err", err)
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

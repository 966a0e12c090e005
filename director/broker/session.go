package broker

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/director/publish"
	"github.com/meridian-traffic/meridian/director/web"
)

// The session broker mirrors the appliance's session flow: each party
// publishes its stream on its own home node, and a viewer connects to the
// publisher's home node. Sessions live in etcd under leases, so every
// director of a site serves every session.

// maxSessionBody bounds a session request body: three short strings.
const maxSessionBody = 4 << 10

// sessionCall is one parsed session request.
type sessionCall struct {
	r    *http.Request
	req  api.SessionRequest
	addr netip.Addr // the party's address: req.Address or the source
	off  time.Duration
	hasO bool
	now  time.Time
}

// answer is a handler's result: a status and the JSON body (nil for none).
type answer struct {
	status int
	body   any
}

func fail(status int, format string, a ...any) answer {
	return answer{status, api.Error{Error: fmt.Sprintf(format, a...)}}
}

// route wraps a session handler: rate limit per source, client token,
// body parsing and validation, metrics.
func (b *Broker) route(op string, h func(*sessionCall) answer) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a := b.serve(w, r, op, h)
		b.met.requests.WithLabelValues(op, strconv.Itoa(a.status)).Inc()
		if a.body == nil {
			w.WriteHeader(a.status)
			return
		}
		web.WriteJSON(w, a.status, a.body)
	}
}

func (b *Broker) serve(w http.ResponseWriter, r *http.Request, op string, h func(*sessionCall) answer) answer {
	now := time.Now()
	src := sourceAddr(r)
	if ok, wait := b.limit.allow(src, now); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int((wait+time.Second-1)/time.Second))))
		return fail(http.StatusTooManyRequests, "too many requests from %s; retry later", src)
	}
	if len(b.tokens) == 0 {
		return fail(http.StatusServiceUnavailable, "the session API is disabled: the director has no client token")
	}
	if !b.tokens.check(r) {
		b.guard.Refused(r, web.RefusedToken)
		return fail(http.StatusUnauthorized, "%s", http.StatusText(http.StatusUnauthorized))
	}
	if id := r.PathValue("id"); op != "create" && !validSessionID(id) {
		return fail(http.StatusNotFound, "session %q: %v", web.Truncate(id, 64), errNoSession)
	}
	c := &sessionCall{r: r.WithContext(clientv3.WithRequireLeader(r.Context())), now: now}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSessionBody))
	if err != nil {
		return fail(http.StatusRequestEntityTooLarge, "request body over %d bytes", maxSessionBody)
	}
	if len(bytes.TrimSpace(body)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c.req); err != nil {
			return fail(http.StatusBadRequest, "malformed JSON body: %v", err)
		}
		if dec.More() {
			return fail(http.StatusBadRequest, "malformed JSON body: more than one value")
		}
	}
	if c.req.Address != "" {
		a, err := netip.ParseAddr(c.req.Address)
		if err != nil || a.Zone() != "" || a.IsUnspecified() || a.IsMulticast() {
			return fail(http.StatusBadRequest, "address: %q is not a unicast IP address", web.Truncate(c.req.Address, 64))
		}
		c.addr = a.Unmap()
	} else {
		c.addr = src
	}
	if !c.addr.IsValid() {
		return fail(http.StatusBadRequest, "address: the request's source address is unknown; give one")
	}
	if c.req.Offset != "" {
		off, err := cluster.ParseOffset(c.req.Offset)
		if err != nil {
			return fail(http.StatusBadRequest, "offset: %v", err)
		}
		c.off, c.hasO = off, true
	}
	switch c.req.Party {
	case "", api.PartyCustomer, api.PartyRepresentative:
	default:
		return fail(http.StatusBadRequest, "party %q: want %s or %s", web.Truncate(c.req.Party, 64), api.PartyCustomer, api.PartyRepresentative)
	}
	return h(c)
}

// party is the record of a party's address as this request gives it.
func (c *sessionCall) party() partyRecord {
	return partyRecord{Address: c.addr, Offset: cluster.Duration(c.off), HasOffset: c.hasO}
}

// storeFailed maps a store or placement error to its answer.
func (b *Broker) storeFailed(c *sessionCall, err error) answer {
	switch {
	case errors.Is(err, errNoSession):
		return fail(http.StatusNotFound, "session %q: %v", c.r.PathValue("id"), errNoSession)
	case errors.Is(err, errNoHome):
		return fail(http.StatusServiceUnavailable, "%v", errNoHome)
	case errors.Is(err, errNotJoined):
		return fail(http.StatusConflict, "%v", errNotJoined)
	case errors.Is(err, errContention):
		return fail(http.StatusConflict, "%v; try again", errContention)
	}
	b.log.Error("session store", "err", err)
	return fail(http.StatusServiceUnavailable, "sessions: store unavailable")
}

func (b *Broker) create(c *sessionCall) answer {
	id, err := newSessionID()
	if err != nil {
		return b.storeFailed(c, err)
	}
	p := b.pub.Current()
	eng := p.Engine(b.cfg.Locator)
	rec := &sessionRecord{ID: id, Created: c.now.UTC(), Expires: c.now.Add(b.cfg.SessionMaxAge).UTC().Truncate(time.Second), Customer: c.party()}
	if _, err := placeParty(p, eng, &rec.Customer, c.now); err != nil {
		return b.storeFailed(c, err)
	}
	if err := b.createSession(c.r.Context(), rec, b.cfg.SessionTTL); err != nil {
		return b.storeFailed(c, err)
	}
	b.met.created.Inc()
	b.log.Debug("session created", "session", id, "customer_node", rec.Customer.Node)
	return answer{http.StatusOK, b.grant(p, eng, rec, api.PartyCustomer, false)}
}

// update runs change on the session with the current snapshot, places
// the party named by who (after change), and answers with its grant.
func (b *Broker) update(c *sessionCall, who string, change func(*sessionRecord) error) answer {
	p := b.pub.Current()
	eng := p.Engine(b.cfg.Locator)
	moved := map[string]bool{}
	rec, err := b.updateSession(c.r.Context(), c.r.PathValue("id"), func(rec *sessionRecord) error {
		clear(moved)
		if err := change(rec); err != nil {
			return err
		}
		// Both parties are placed: the asking one gets its new home, and
		// its view follows the other party off a node that left, where
		// that party will be sent on its own next request anyway.
		for _, party := range []string{api.PartyCustomer, api.PartyRepresentative} {
			if pr := rec.partyOf(party); pr != nil {
				m, err := placeParty(p, eng, pr, c.now)
				if err != nil {
					return err
				}
				moved[party] = m
			}
		}
		return nil
	})
	if err != nil {
		return b.storeFailed(c, err)
	}
	for party, m := range moved {
		if m {
			b.met.moved.WithLabelValues(party).Inc()
			b.log.Info("session party moved", "session", rec.ID, "party", party, "node", rec.partyOf(party).Node)
		}
	}
	return answer{http.StatusOK, b.grant(p, eng, rec, who, moved[who])}
}

func (b *Broker) renew(c *sessionCall) answer {
	who := c.req.Party
	if who == "" {
		who = api.PartyCustomer
	}
	return b.update(c, who, func(rec *sessionRecord) error {
		if who == api.PartyRepresentative && rec.Rep == nil {
			return errNotJoined
		}
		return nil
	})
}

func (b *Broker) join(c *sessionCall) answer {
	return b.update(c, api.PartyRepresentative, func(rec *sessionRecord) error {
		if rec.Rep == nil {
			pr := c.party()
			rec.Rep = &pr
			return nil
		}
		// A representative that joins again reconnects: same node while
		// it is alive, from where it is now.
		rec.Rep.Address, rec.Rep.Offset, rec.Rep.HasOffset = c.addr, cluster.Duration(c.off), c.hasO
		return nil
	})
}

func (b *Broker) show(c *sessionCall) answer {
	return b.update(c, api.PartyCustomer, func(rec *sessionRecord) error {
		if rec.Rep == nil {
			return errNotJoined
		}
		rec.Shown = true
		return nil
	})
}

func (b *Broker) end(c *sessionCall) answer {
	if err := b.endSession(c.r.Context(), c.r.PathValue("id")); err != nil {
		return b.storeFailed(c, err)
	}
	return answer{status: http.StatusNoContent}
}

func (rec *sessionRecord) partyOf(who string) *partyRecord {
	if who == api.PartyRepresentative {
		return rec.Rep
	}
	return &rec.Customer
}

// grant is a party's answer: its home relay and, once there is one, the
// relay where it receives the other party's stream.
func (b *Broker) grant(p *publish.Published, eng *cluster.Engine, rec *sessionRecord, who string, moved bool) api.Grant {
	user := sessionUser(rec.ID, who)
	g := api.Grant{
		ID: rec.ID, Party: who, TTL: api.Duration(b.cfg.SessionTTL), Expires: rec.Expires, Moved: moved,
		Home: b.relayFor(p, eng, rec.partyOf(who), user, rec.Expires),
	}
	var view *partyRecord
	switch {
	case who == api.PartyRepresentative:
		view = &rec.Customer
	case rec.Shown && rec.Rep != nil:
		view = rec.Rep
	}
	if view != nil {
		v := b.relayFor(p, eng, view, user, rec.Expires)
		g.View = &v
	}
	return g
}

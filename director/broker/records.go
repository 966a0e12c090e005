package broker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/director/store"
)

// A session lives under store.Keys.Session, under its own lease: etcd
// deletes a session that nobody renews, on every director at once, and a
// director restart loses none.

// Session errors.
var (
	errNoSession  = errors.New("no such session")
	errNoHome     = errors.New("no traffic node accepts clients")
	errNotJoined  = errors.New("the representative has not joined")
	errContention = errors.New("session changed concurrently too often")
)

// sessionRecord is one session as stored.
type sessionRecord struct {
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"` // max age: the credentials end here
	Lease   int64     `json:"lease"`
	// Customer always; Rep once the representative joined.
	Customer partyRecord  `json:"customer"`
	Rep      *partyRecord `json:"representative,omitempty"`
	// Shown is set once the customer asked to show its screen.
	Shown bool `json:"shown,omitempty"`
}

// partyRecord is one party's address and home node.
type partyRecord struct {
	Address   netip.Addr       `json:"address"`
	Offset    cluster.Duration `json:"offset,omitempty"`
	HasOffset bool             `json:"has_offset,omitempty"`
	// Node is the home node; "" with Anycast set means the site's anycast
	// address.
	Node    string    `json:"node,omitempty"`
	Anycast bool      `json:"anycast,omitempty"`
	Since   time.Time `json:"since"` // when it got this home
}

// sessionIDLen is the length of a session id: 128 random bits in hex.
const sessionIDLen = 32

func newSessionID() (string, error) {
	var b [sessionIDLen / 2]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("session id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// validSessionID reports whether id could be a session id, so a malformed
// one never reaches the store.
func validSessionID(id string) bool {
	if len(id) != sessionIDLen {
		return false
	}
	for _, c := range []byte(id) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// createSession stores rec under a new lease of ttl.
func (b *Broker) createSession(ctx context.Context, rec *sessionRecord, ttl time.Duration) error {
	lease, err := b.site.Client().Grant(ctx, int64((ttl+time.Second-1)/time.Second))
	if err != nil {
		return fmt.Errorf("session lease: %w", err)
	}
	rec.Lease = int64(lease.ID)
	key := b.site.Keys.Session(rec.ID)
	resp, err := b.site.Client().Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, store.Encode(rec), clientv3.WithLease(lease.ID))).
		Commit()
	if err == nil && !resp.Succeeded {
		err = errors.New("session id already taken")
	}
	if err != nil {
		b.revokeLease(lease.ID)
		return fmt.Errorf("store session: %w", err)
	}
	return nil
}

// updateSession renews the session's lease, then applies change to the
// stored record and writes it back unless another request changed it in
// between (then it tries again). change must not have side effects beyond
// the record.
func (b *Broker) updateSession(ctx context.Context, id string, change func(*sessionRecord) error) (*sessionRecord, error) {
	key := b.site.Keys.Session(id)
	for range 8 {
		resp, err := b.site.Client().Get(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("read session: %w", err)
		}
		if len(resp.Kvs) == 0 {
			return nil, errNoSession
		}
		kv := resp.Kvs[0]
		rec, err := store.Decode[sessionRecord](key, kv.Value)
		if err != nil {
			return nil, err
		}
		if !time.Now().Before(rec.Expires) {
			// Past its max age: renewing would keep a session alive that
			// every request refuses.
			b.revokeLease(clientv3.LeaseID(rec.Lease))
			return nil, errNoSession
		}
		if _, err := b.site.Client().KeepAliveOnce(ctx, clientv3.LeaseID(rec.Lease)); err != nil {
			if errors.Is(err, rpctypes.ErrLeaseNotFound) {
				return nil, errNoSession
			}
			return nil, fmt.Errorf("renew session: %w", err)
		}
		before := store.Encode(rec)
		if err := change(&rec); err != nil {
			return nil, err
		}
		after := store.Encode(rec)
		if after == before {
			return &rec, nil
		}
		tr, err := b.site.Client().Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", kv.ModRevision)).
			Then(clientv3.OpPut(key, after, clientv3.WithIgnoreLease())).
			Commit()
		if err != nil {
			return nil, fmt.Errorf("store session: %w", err)
		}
		if tr.Succeeded {
			return &rec, nil
		}
	}
	return nil, errContention
}

// endSession revokes the session's lease, which deletes its key.
func (b *Broker) endSession(ctx context.Context, id string) error {
	key := b.site.Keys.Session(id)
	resp, err := b.site.Client().Get(ctx, key)
	if err != nil {
		return fmt.Errorf("read session: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return errNoSession
	}
	if _, err := b.site.Client().Revoke(ctx, clientv3.LeaseID(resp.Kvs[0].Lease)); err != nil {
		if errors.Is(err, rpctypes.ErrLeaseNotFound) {
			return errNoSession
		}
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}

// activeSessions returns the ids of the stored sessions.
func (b *Broker) activeSessions(ctx context.Context) (map[string]bool, error) {
	resp, err := b.site.Client().Get(ctx, b.site.Keys.Sessions(), clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, fmt.Errorf("read sessions: %w", err)
	}
	out := make(map[string]bool, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out[string(kv.Key[len(b.site.Keys.Sessions()):])] = true
	}
	return out, nil
}

// revokeLease drops a lease that no key uses, in the background of a
// failed request: it would expire by itself anyway.
func (b *Broker) revokeLease(id clientv3.LeaseID) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	b.site.Client().Revoke(ctx, id)
}

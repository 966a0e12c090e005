package director

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
)

// Session keys live beside the site's other keys, each under its own
// lease: etcd deletes a session that nobody renews, on every director at
// once, and a director restart loses none.
//
//	sessions/<id>   sessionRecord, under the session's lease
func (k keys) sessions() string         { return k.root + "sessions/" }
func (k keys) session(id string) string { return k.sessions() + id }

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
func (d *Director) createSession(ctx context.Context, rec *sessionRecord, ttl time.Duration) error {
	lease, err := d.st.client.Grant(ctx, int64((ttl+time.Second-1)/time.Second))
	if err != nil {
		return fmt.Errorf("session lease: %w", err)
	}
	rec.Lease = int64(lease.ID)
	key := d.keys.session(rec.ID)
	resp, err := d.st.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, encode(rec), clientv3.WithLease(lease.ID))).
		Commit()
	if err == nil && !resp.Succeeded {
		err = errors.New("session id already taken")
	}
	if err != nil {
		d.revokeLease(lease.ID)
		return fmt.Errorf("store session: %w", err)
	}
	return nil
}

// updateSession renews the session's lease, then applies change to the
// stored record and writes it back unless another request changed it in
// between (then it tries again). change must not have side effects beyond
// the record.
func (d *Director) updateSession(ctx context.Context, id string, change func(*sessionRecord) error) (*sessionRecord, error) {
	key := d.keys.session(id)
	for range 8 {
		resp, err := d.st.client.Get(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("read session: %w", err)
		}
		if len(resp.Kvs) == 0 {
			return nil, errNoSession
		}
		kv := resp.Kvs[0]
		rec, err := decode[sessionRecord](key, kv.Value)
		if err != nil {
			return nil, err
		}
		if !time.Now().Before(rec.Expires) {
			// Past its max age: renewing would keep a session alive that
			// every request refuses.
			d.revokeLease(clientv3.LeaseID(rec.Lease))
			return nil, errNoSession
		}
		if _, err := d.st.client.KeepAliveOnce(ctx, clientv3.LeaseID(rec.Lease)); err != nil {
			if errors.Is(err, rpctypes.ErrLeaseNotFound) {
				return nil, errNoSession
			}
			return nil, fmt.Errorf("renew session: %w", err)
		}
		before := encode(rec)
		if err := change(&rec); err != nil {
			return nil, err
		}
		after := encode(rec)
		if after == before {
			return &rec, nil
		}
		tr, err := d.st.client.Txn(ctx).
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
func (d *Director) endSession(ctx context.Context, id string) error {
	key := d.keys.session(id)
	resp, err := d.st.client.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("read session: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return errNoSession
	}
	if _, err := d.st.client.Revoke(ctx, clientv3.LeaseID(resp.Kvs[0].Lease)); err != nil {
		if errors.Is(err, rpctypes.ErrLeaseNotFound) {
			return errNoSession
		}
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}

// activeSessions returns the ids of the stored sessions.
func (d *Director) activeSessions(ctx context.Context) (map[string]bool, error) {
	resp, err := d.st.client.Get(ctx, d.keys.sessions(), clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, fmt.Errorf("read sessions: %w", err)
	}
	out := make(map[string]bool, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out[string(kv.Key[len(d.keys.sessions()):])] = true
	}
	return out, nil
}

// revokeLease drops a lease that no key uses, in the background of a
// failed request: it would expire by itself anyway.
func (d *Director) revokeLease(id clientv3.LeaseID) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	d.st.client.Revoke(ctx, id)
}

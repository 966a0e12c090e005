package relay

import (
	"crypto/md5" //nolint:gosec // RFC 5389 long-term credentials are MD5 by definition.
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/meridian-traffic/meridian/cluster"
)

// ParseUsername splits a TURN REST username into its expiry and user.
func ParseUsername(username string) (expiry time.Time, user string, err error) {
	ts, user, ok := strings.Cut(username, ":")
	if !ok {
		return time.Time{}, "", fmt.Errorf("%w: no separator", ErrBadCredential)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sec <= 0 {
		return time.Time{}, "", fmt.Errorf("%w: expiry is not a Unix time", ErrBadCredential)
	}
	return time.Unix(sec, 0), user, nil
}

// Refusal reasons, the label values of meridian_relay_refusals_total.
const (
	ReasonMalformed   = "malformed"    // username not EXPIRY:USER
	ReasonExpired     = "expired"      // credential expiry in the past
	ReasonFuture      = "future"       // credential expiry beyond MaxCredentialTTL
	ReasonBadPassword = "bad_password" // MESSAGE-INTEGRITY does not verify
	ReasonUserQuota   = "user_quota"   // 486
	ReasonNodeQuota   = "node_quota"   // 508
	ReasonDraining    = "draining"     // 300 or 508
	ReasonPeer        = "peer_denied"  // CreatePermission/ChannelBind (403) or send to a filtered peer
)

var refusalReasons = [...]string{ReasonMalformed, ReasonExpired, ReasonFuture, ReasonBadPassword,
	ReasonUserQuota, ReasonNodeQuota, ReasonDraining, ReasonPeer, ReasonSourceLimit}

// authenticator checks TURN REST usernames and computes long-term keys.
// Keys made with a previous secret are remembered per username (bounded),
// because pion asks for one key and the listener wrappers have already
// found which secret the client used.
type authenticator struct {
	secrets [][]byte
	realm   string
	now     func() time.Time
	maxTTL  time.Duration

	mu    sync.Mutex
	older map[string]keyEntry // username -> key made with a previous secret
}

type keyEntry struct {
	key    []byte
	expiry time.Time
}

// maxOlderKeys bounds the previous-secret cache: past it, new entries are
// not remembered and those clients fail until they use the current secret.
const maxOlderKeys = 1 << 16

func newAuthenticator(secrets [][]byte, realm string, now func() time.Time, maxTTL time.Duration) *authenticator {
	return &authenticator{secrets: secrets, realm: realm, now: now, maxTTL: maxTTL, older: map[string]keyEntry{}}
}

// check returns the user of a valid username, or a refusal reason.
func (a *authenticator) check(username string) (expiry time.Time, user, reason string) {
	expiry, user, err := ParseUsername(username)
	if err != nil {
		return time.Time{}, "", ReasonMalformed
	}
	now := a.now()
	switch {
	case !expiry.After(now):
		return expiry, user, ReasonExpired
	case expiry.Sub(now) > a.maxTTL:
		return expiry, user, ReasonFuture
	}
	return expiry, user, ""
}

// key returns the long-term key for username under secret i.
func (a *authenticator) key(i int, username string) []byte {
	h := md5.New() //nolint:gosec
	h.Write([]byte(username + ":" + a.realm + ":" + cluster.RelayPassword(a.secrets[i], username)))
	return h.Sum(nil)
}

// remember notes that username verified under a previous secret.
func (a *authenticator) remember(username string, key []byte, expiry time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.older) >= maxOlderKeys {
		a.sweepLocked()
		if len(a.older) >= maxOlderKeys {
			return
		}
	}
	a.older[username] = keyEntry{key: key, expiry: expiry}
}

// currentKey is the key pion checks a request against: the one made with
// the secret the client used when a listener wrapper found it, else the
// current secret's.
func (a *authenticator) currentKey(username string) []byte {
	a.mu.Lock()
	e, ok := a.older[username]
	a.mu.Unlock()
	if ok {
		return e.key
	}
	return a.key(0, username)
}

func (a *authenticator) sweep() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sweepLocked()
}

func (a *authenticator) sweepLocked() {
	now := a.now()
	for u, e := range a.older {
		if !e.expiry.After(now) {
			delete(a.older, u)
		}
	}
}

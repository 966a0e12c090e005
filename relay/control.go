package relay

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/pion/stun"
)

// STUN message types the listener wrappers act on (RFC 8656).
const (
	typeAllocateRequest     = 0x0003
	typeRefreshRequest      = 0x0004
	typeCreatePermRequest   = 0x0008
	typeChannelBindRequest  = 0x0009
	typeChannelBindSuccess  = 0x0109
	typeDataIndication      = 0x0017
	attrData                = 0x0013
	attrLifetime            = stun.AttrType(0x000D)
	attrChannelNumber       = stun.AttrType(0x000C)
	channelBindLifetime     = 10 * time.Minute // RFC 8656 section 12
	defaultAllocateLifetime = 10 * time.Minute // pion's default when LIFETIME is absent
)

// pendingBind is a ChannelBind request handed to pion, committed to the
// allocation's fast path when pion answers it with success.
type pendingBind struct {
	tx     [stun.TransactionIDSize]byte
	client netip.AddrPort
	number uint16
	peer   netip.AddrPort
}

// verdict is what a listener wrapper does with one request.
type verdict struct {
	pass  bool   // hand to pion (possibly rewritten: see msg)
	msg   []byte // when non-nil, the request to hand to pion instead
	reply []byte // when non-nil, the answer to send the client
	hold  bool   // lock the allocation gate for this request
	user  string
	bind  *pendingBind
}

// inspect looks at one STUN request before pion does. It verifies the
// credential of authenticated requests (trying each secret, so rotation
// works) and has pion answer a bad one with 401 and a fresh NONCE,
// refuses Allocate requests over quota or while draining with the code a
// client expects, refuses peers the filter denies with 403, clamps
// LIFETIME to the configured bounds, and notes ChannelBind requests for
// the fast path. Anything it does not understand passes to pion
// untouched. over is the client's transport: a drain's alternate is named
// for it.
func (r *Relay) inspect(p []byte, client netip.AddrPort, over Transport, hasAllocation bool) verdict {
	pass := verdict{pass: true}
	if len(p) < 20 || !stun.IsMessage(p) {
		return pass
	}
	t := binary.BigEndian.Uint16(p[0:2])
	switch t {
	case typeAllocateRequest, typeRefreshRequest, typeCreatePermRequest, typeChannelBindRequest:
	default:
		return pass
	}
	m := &stun.Message{Raw: append([]byte(nil), p...)}
	if err := m.Decode(); err != nil || !m.Contains(stun.AttrMessageIntegrity) {
		return pass
	}
	var username stun.Username
	if err := username.GetFrom(m); err != nil {
		return pass
	}
	name := username.String()
	expiry, user, reason := r.auth.check(name)
	var key []byte
	if reason == "" {
		for i := range r.auth.secrets {
			k := r.auth.key(i, name)
			if stun.MessageIntegrity(k).Check(m) == nil {
				key = k
				if i > 0 {
					r.auth.remember(name, k, expiry)
				}
				break
			}
		}
		if key == nil {
			reason = ReasonBadPassword
		}
	}
	if reason != "" {
		// RFC 8656 section 9.2 (RFC 8489 section 9.2.4): a bad or expired
		// credential is answered 401 with REALM and a NONCE, so clients
		// retry with a fresh one. pion answers that to a request without
		// MESSAGE-INTEGRITY, with its own nonce.
		r.refused(reason, "turn request refused", "client", client, "user", user)
		return verdict{pass: true, msg: withoutIntegrity(m)}
	}

	switch t {
	case typeAllocateRequest:
		if hasAllocation {
			return pass // a retransmission or a mismatch: pion's to answer
		}
		if fam, ok := requestedFamily(m); ok && fam != r.family() {
			// pion ignores REQUESTED-ADDRESS-FAMILY and would hand out an
			// address of the relay's own family; RFC 8656 section 7.2
			// wants 440 for a family the server does not allocate.
			r.log.Info("turn allocation refused", "reason", "address family", "family", fam, "client", client, "user", user)
			return verdict{reply: errorReply(m, key, stun.CodeAddrFamilyNotSupported, nil)}
		}
		if st := r.draining.Load(); st != nil {
			r.refused(ReasonDraining, "turn allocation refused", "client", client, "user", user)
			if alt := st.alternateFor(client.Addr(), over); alt.IsValid() {
				return verdict{reply: errorReply(m, key, stun.CodeTryAlternate, &stun.AlternateServer{
					IP: alt.Addr().AsSlice(), Port: int(alt.Port())})}
			}
			return verdict{reply: errorReply(m, key, stun.CodeInsufficientCapacity, nil)}
		}
		if reason := r.quotaReason(user); reason != "" {
			r.refused(reason, "turn allocation refused", "client", client, "user", user)
			code := stun.CodeAllocQuotaReached
			if reason == ReasonNodeQuota {
				code = stun.CodeInsufficientCapacity
			}
			return verdict{reply: errorReply(m, key, code, nil)}
		}
		v := verdict{pass: true, hold: true, user: user}
		v.msg = r.clampLifetime(m, key, true)
		return v
	case typeRefreshRequest:
		return verdict{pass: true, msg: r.clampLifetime(m, key, false)}
	case typeCreatePermRequest:
		if !hasAllocation {
			return pass
		}
		// All or nothing (RFC 8656 section 10.2): one denied peer
		// refuses the request.
		denied := netip.Addr{}
		_ = m.ForEach(stun.AttrXORPeerAddress, func(m *stun.Message) error {
			var peer stun.XORMappedAddress
			if err := peer.GetFromAs(m, stun.AttrXORPeerAddress); err != nil {
				return nil
			}
			if ip, ok := netip.AddrFromSlice(peer.IP); ok && !denied.IsValid() && !r.filter.Load().permitIP(ip) {
				denied = ip
			}
			return nil
		})
		if denied.IsValid() {
			r.refused(ReasonPeer, "turn permission refused", "client", client, "user", user, "peer", denied)
			return verdict{reply: errorReply(m, key, stun.CodeForbidden, nil)}
		}
		return pass
	case typeChannelBindRequest:
		if !hasAllocation {
			return pass
		}
		ch, err := m.Get(attrChannelNumber)
		if err != nil || len(ch) < 2 {
			return pass
		}
		var peer stun.XORMappedAddress
		if err := peer.GetFromAs(m, stun.AttrXORPeerAddress); err != nil {
			return pass
		}
		ip, ok := netip.AddrFromSlice(peer.IP)
		if !ok || peer.Port < 0 || peer.Port > 65535 {
			return pass
		}
		if !r.filter.Load().permitIP(ip) {
			r.refused(ReasonPeer, "turn permission refused", "client", client, "user", user, "peer", ip)
			return verdict{reply: errorReply(m, key, stun.CodeForbidden, nil)}
		}
		return verdict{pass: true, bind: &pendingBind{
			tx:     m.TransactionID,
			client: client,
			number: binary.BigEndian.Uint16(ch),
			peer:   netip.AddrPortFrom(ip.Unmap(), uint16(peer.Port)),
		}}
	}
	return pass
}

// withoutIntegrity returns m rebuilt without MESSAGE-INTEGRITY and
// FINGERPRINT (and what follows them).
func withoutIntegrity(m *stun.Message) []byte {
	out := &stun.Message{TransactionID: m.TransactionID}
	out.SetType(m.Type)
	out.WriteHeader()
	for _, a := range m.Attributes {
		if a.Type == stun.AttrMessageIntegrity || a.Type == stun.AttrMessageIntegritySHA256 || a.Type == stun.AttrFingerprint {
			break
		}
		out.Add(a.Type, a.Value)
	}
	return out.Raw
}

// requestedFamily returns the value of m's REQUESTED-ADDRESS-FAMILY
// (0x01 IPv4, 0x02 IPv6, anything else unknown) and whether it has one.
func requestedFamily(m *stun.Message) (byte, bool) {
	v, err := m.Get(stun.AttrRequestedAddressFamily)
	if err != nil {
		return 0, false
	}
	if len(v) != 4 {
		return 0, true
	}
	return v[0], true
}

// family is the REQUESTED-ADDRESS-FAMILY value of the relayed addresses
// this relay allocates: those of its address.
func (r *Relay) family() byte {
	if r.cfg.Address.Is4() {
		return 0x01
	}
	return 0x02
}

// errorReply builds an error response to m, signed with key.
func errorReply(m *stun.Message, key []byte, code stun.ErrorCode, extra stun.Setter) []byte {
	setters := []stun.Setter{
		&stun.Message{TransactionID: m.TransactionID},
		stun.NewType(m.Type.Method, stun.ClassErrorResponse),
		stun.ErrorCodeAttribute{Code: code, Reason: errorReason(code)},
	}
	if extra != nil {
		setters = append(setters, extra)
	}
	setters = append(setters, stun.MessageIntegrity(key), stun.Fingerprint)
	out, err := stun.Build(setters...)
	if err != nil {
		return nil
	}
	return out.Raw
}

func errorReason(code stun.ErrorCode) []byte {
	switch code {
	case stun.CodeTryAlternate:
		return []byte("Try Alternate")
	case stun.CodeAllocQuotaReached:
		return []byte("Allocation Quota Reached")
	case stun.CodeForbidden:
		return []byte("Forbidden")
	case stun.CodeAddrFamilyNotSupported:
		return []byte("Address Family not Supported")
	default:
		return []byte("Insufficient Capacity")
	}
}

// clampLifetime returns m rebuilt with its LIFETIME inside the configured
// bounds, re-signed with key, or nil when it already is. A Refresh asking
// for zero (deallocate) is left alone.
func (r *Relay) clampLifetime(m *stun.Message, key []byte, allocate bool) []byte {
	var want time.Duration
	present := false
	if v, err := m.Get(attrLifetime); err == nil && len(v) == 4 {
		want = time.Duration(binary.BigEndian.Uint32(v)) * time.Second
		present = true
	}
	if !present {
		want = defaultAllocateLifetime
	}
	if present && want == 0 && !allocate {
		return nil
	}
	// pion grants its default instead of a LIFETIME of an hour or more.
	conf := r.conf()
	hi := min(conf.MaxLifetime, time.Hour-time.Second)
	got := min(max(want, conf.MinLifetime), hi)
	if got == want {
		return nil
	}
	out := &stun.Message{TransactionID: m.TransactionID}
	out.SetType(m.Type)
	out.WriteHeader()
	var val [4]byte
	binary.BigEndian.PutUint32(val[:], uint32(got/time.Second))
	fingerprint := false
	for _, a := range m.Attributes {
		switch a.Type {
		case stun.AttrMessageIntegrity:
		case stun.AttrFingerprint:
			fingerprint = true
		case attrLifetime:
		default:
			out.Add(a.Type, a.Value)
		}
	}
	out.Add(attrLifetime, val[:])
	if err := stun.MessageIntegrity(key).AddTo(out); err != nil {
		return nil
	}
	if fingerprint {
		if err := stun.Fingerprint.AddTo(out); err != nil {
			return nil
		}
	}
	return out.Raw
}

package cluster

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// AuthScheme is the Authorization scheme of PSK-authenticated requests.
const AuthScheme = "Meridian"

// Errors of request authentication. None of them carries key material.
var (
	ErrAuthMissing = errors.New("missing or malformed Meridian authorization")
	ErrAuthClock   = errors.New("request timestamp outside the allowed window")
	ErrAuthMAC     = errors.New("request MAC does not verify")
)

// RequestAuth signs and checks requests between Meridian parts with the
// key derived from the PSK for PurposeRequest. The MAC covers the method,
// the path with its query, the body, the timestamp and a nonce; the caller
// keeps the nonces it has seen to refuse replays.
type RequestAuth struct{ key []byte }

// NewRequestAuth returns the request authenticator of a PSK.
func NewRequestAuth(psk PSK) *RequestAuth {
	return &RequestAuth{key: psk.Derive(PurposeRequest)}
}

// Header returns the Authorization header value for one request. nonce must
// be unique (random) per request.
func (a *RequestAuth) Header(method, pathQuery string, body []byte, ts time.Time, nonce string) string {
	return fmt.Sprintf("%s ts=%d,nonce=%s,mac=%s", AuthScheme, ts.Unix(), nonce,
		base64.RawURLEncoding.EncodeToString(a.mac(method, pathQuery, body, ts.Unix(), nonce)))
}

// Check verifies an Authorization header at time now with a ±window clock
// allowance and returns the nonce for the caller's replay check.
func (a *RequestAuth) Check(header, method, pathQuery string, body []byte, now time.Time, window time.Duration) (string, error) {
	rest, ok := strings.CutPrefix(header, AuthScheme+" ")
	if !ok {
		return "", ErrAuthMissing
	}
	var ts int64
	var nonce, mac string
	for _, kv := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		switch k {
		case "ts":
			ts, _ = strconv.ParseInt(v, 10, 64)
		case "nonce":
			nonce = v
		case "mac":
			mac = v
		}
	}
	if ts == 0 || nonce == "" || len(nonce) > 64 || mac == "" {
		return "", ErrAuthMissing
	}
	got, err := base64.RawURLEncoding.DecodeString(mac)
	if err != nil {
		return "", ErrAuthMissing
	}
	if d := now.Sub(time.Unix(ts, 0)); d > window || d < -window {
		return "", ErrAuthClock
	}
	if !hmac.Equal(got, a.mac(method, pathQuery, body, ts, nonce)) {
		return "", ErrAuthMAC
	}
	return nonce, nil
}

// mac frames every field with its length so that no two requests share a
// MAC input by shifting bytes between fields.
func (a *RequestAuth) mac(method, pathQuery string, body []byte, ts int64, nonce string) []byte {
	m := hmac.New(sha256.New, a.key)
	for _, f := range [][]byte{[]byte(method), []byte(pathQuery), body, []byte(strconv.FormatInt(ts, 10)), []byte(nonce)} {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		m.Write(n[:])
		m.Write(f)
	}
	return m.Sum(nil)
}

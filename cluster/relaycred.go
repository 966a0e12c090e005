package cluster

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // the TURN REST scheme is HMAC-SHA1 by definition.
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"time"
)

// RelaySecret returns the site's relay secret: the lowercase hex of the
// PSK's relay key. It is text so that coturn tools and configs (-W,
// static-auth-secret) take it unchanged.
func RelaySecret(psk PSK) []byte {
	return []byte(hex.EncodeToString(psk.Derive(PurposeRelay)))
}

// RelayCredential mints a TURN REST credential (coturn's use-auth-secret):
// username "EXPIRY:USER" with EXPIRY in Unix seconds, password
// base64(HMAC-SHA1(secret, username)).
func RelayCredential(secret []byte, user string, expiry time.Time) (username, password string) {
	username = strconv.FormatInt(expiry.Unix(), 10) + ":" + user
	return username, RelayPassword(secret, username)
}

// RelayPassword is the TURN REST password of username under secret.
func RelayPassword(secret []byte, username string) string {
	m := hmac.New(sha1.New, secret)
	m.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

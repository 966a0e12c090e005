package cluster

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"log/slog"
)

// MinPSKLen is the shortest pre-shared key accepted.
const MinPSKLen = 16

// Key purposes. Each use of the PSK gets its own derived key, so a key
// leaked from one use (a relay secret) does not forge another (snapshots).
const (
	PurposeSnapshot = "meridian snapshot signing v1"
	PurposeRequest  = "meridian request auth v1"
	PurposeRelay    = "meridian relay secret v1"
)

// PSK is the site's inter-node pre-shared key. It never prints: every
// formatting path shows "[redacted]", so a PSK in a log line or an error
// leaks nothing.
type PSK struct{ b []byte }

// NewPSK makes a PSK from the contents of a key file or variable. Leading
// and trailing white space is dropped (files end in a newline).
func NewPSK(data []byte) (PSK, error) {
	b := bytes.TrimSpace(data)
	if len(b) < MinPSKLen {
		return PSK{}, errors.New("pre-shared key is too short (want at least 16 bytes)")
	}
	return PSK{b: bytes.Clone(b)}, nil
}

// IsZero reports whether k holds no key.
func (k PSK) IsZero() bool { return len(k.b) == 0 }

// Derive returns a 32-byte key for one purpose (HKDF-SHA256).
func (k PSK) Derive(purpose string) []byte {
	out, err := hkdf.Key(sha256.New, k.b, nil, purpose, 32)
	if err != nil {
		panic("hkdf with sha256 and 32 bytes cannot fail: " + err.Error())
	}
	return out
}

func (PSK) String() string               { return "[redacted]" }
func (PSK) GoString() string             { return "[redacted]" }
func (PSK) LogValue() slog.Value         { return slog.StringValue("[redacted]") }
func (PSK) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }

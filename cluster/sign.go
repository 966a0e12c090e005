package cluster

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"fmt"
)

// Envelope is a snapshot as it travels: the encoded snapshot and its MAC
// under the key derived from the PSK for PurposeSnapshot.
type Envelope struct {
	Payload []byte `json:"payload"`
	MAC     []byte `json:"mac"`
}

// SnapshotSigner signs and verifies snapshots of one site.
type SnapshotSigner struct {
	key  []byte
	site string
}

// NewSnapshotSigner returns a signer for the named site.
func NewSnapshotSigner(psk PSK, site string) *SnapshotSigner {
	return &SnapshotSigner{key: psk.Derive(PurposeSnapshot), site: site}
}

// Sign encodes and signs s; the result is the JSON of an Envelope.
func (g *SnapshotSigner) Sign(s *Snapshot) ([]byte, error) {
	p, err := s.Encode()
	if err != nil {
		return nil, err
	}
	return json.Marshal(Envelope{Payload: p, MAC: g.mac(p)})
}

// Verify checks an envelope and returns its snapshot. It refuses an
// unsigned or tampered envelope, another site's snapshot and one whose
// version is not newer than held (0 accepts any).
func (g *SnapshotSigner) Verify(env []byte, held uint64) (*Snapshot, error) {
	var e Envelope
	if err := json.Unmarshal(env, &e); err != nil {
		return nil, fmt.Errorf("decode envelope: %w", err)
	}
	if len(e.MAC) == 0 {
		return nil, ErrUnsigned
	}
	if !hmac.Equal(e.MAC, g.mac(e.Payload)) {
		return nil, ErrBadSignature
	}
	s, err := DecodeSnapshot(e.Payload)
	if err != nil {
		return nil, err
	}
	if s.Site != g.site {
		return nil, fmt.Errorf("%w: %q, want %q", ErrForeignSite, s.Site, g.site)
	}
	if held != 0 && s.Version <= held {
		return nil, fmt.Errorf("%w: version %d, holding %d", ErrStale, s.Version, held)
	}
	return s, nil
}

func (g *SnapshotSigner) mac(p []byte) []byte {
	m := hmac.New(sha256.New, g.key)
	m.Write(p)
	return m.Sum(nil)
}

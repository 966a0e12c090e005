package cluster

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func testSnapshot(t *testing.T, site string, version uint64) *Snapshot {
	t.Helper()
	s, err := Parse("f.yaml", []byte(strings.Replace(minimal, "site: t", "site: "+site, 1)))
	if err != nil {
		t.Fatal(err)
	}
	return &Snapshot{Format: SnapshotFormat, Site: site, Version: version, Config: s,
		Published: time.Unix(1700000000, 0).UTC(), Nodes: []NodeState{{Name: "a", Health: Up}}}
}

func TestSnapshotSignVerify(t *testing.T) {
	psk, _ := NewPSK([]byte("0123456789abcdef-site-key\n"))
	other, _ := NewPSK([]byte("another-key-of-enough-length"))
	g := NewSnapshotSigner(psk, "t")
	good, err := g.Sign(testSnapshot(t, "t", 7))
	if err != nil {
		t.Fatal(err)
	}
	foreign, _ := NewSnapshotSigner(psk, "u").Sign(testSnapshot(t, "u", 9))
	wrongKey, _ := NewSnapshotSigner(other, "t").Sign(testSnapshot(t, "t", 9))
	var e Envelope
	_ = json.Unmarshal(good, &e)
	e.Payload = []byte(strings.Replace(string(e.Payload), `"health":"up"`, `"health":"down"`, 1))
	tampered, _ := json.Marshal(e)
	e.MAC = nil
	unsigned, _ := json.Marshal(e)

	tests := []struct {
		name string
		env  []byte
		held uint64
		want error
	}{
		{"good", good, 0, nil},
		{"newer than held", good, 6, nil},
		{"same as held", good, 7, ErrStale},
		{"older than held", good, 8, ErrStale},
		{"tampered", tampered, 0, ErrBadSignature},
		{"unsigned", unsigned, 0, ErrUnsigned},
		{"wrong key", wrongKey, 0, ErrBadSignature},
		{"foreign site", foreign, 0, ErrForeignSite},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := g.Verify(tt.env, tt.held)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
			if err == nil && (s.Version != 7 || s.Node("a").Health != Up) {
				t.Fatalf("verified snapshot differs: %+v", s)
			}
		})
	}
}

func TestSnapshotEncodingDeterministic(t *testing.T) {
	a, _ := testSnapshot(t, "t", 1).Encode()
	b, _ := testSnapshot(t, "t", 1).Encode()
	if string(a) != string(b) {
		t.Fatal("two encodings of the same snapshot differ")
	}
}

func TestRequestAuth(t *testing.T) {
	psk, _ := NewPSK([]byte("0123456789abcdef-site-key"))
	other, _ := NewPSK([]byte("another-key-of-enough-length"))
	a := NewRequestAuth(psk)
	now := time.Unix(1700000000, 0)
	h := a.Header("GET", "/v1/sync?after=3", nil, now, "n1")
	tests := []struct {
		name   string
		auth   *RequestAuth
		header string
		path   string
		at     time.Time
		want   error
	}{
		{"good", a, h, "/v1/sync?after=3", now, nil},
		{"clock skew within window", a, h, "/v1/sync?after=3", now.Add(29 * time.Second), nil},
		{"stale", a, h, "/v1/sync?after=3", now.Add(31 * time.Second), ErrAuthClock},
		{"future", a, h, "/v1/sync?after=3", now.Add(-31 * time.Second), ErrAuthClock},
		{"other path", a, h, "/v1/sync?after=4", now, ErrAuthMAC},
		{"wrong key", NewRequestAuth(other), h, "/v1/sync?after=3", now, ErrAuthMAC},
		{"missing", a, "", "/v1/sync?after=3", now, ErrAuthMissing},
		{"bearer", a, "Bearer abc", "/v1/sync?after=3", now, ErrAuthMissing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.auth.Check(tt.header, "GET", tt.path, nil, tt.at, 30*time.Second)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Check = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestPSKNeverPrints(t *testing.T) {
	psk, _ := NewPSK([]byte("super-secret-value-123"))
	for _, s := range []string{psk.String(), psk.GoString()} {
		if strings.Contains(s, "super-secret") {
			t.Fatalf("PSK printed: %s", s)
		}
	}
	if _, err := NewPSK([]byte("xq7zk")); err == nil || strings.Contains(err.Error(), "xq7zk") {
		t.Fatalf("short key: %v", err)
	}
}

package client

import (
	"testing"

	"github.com/meridian-traffic/meridian/api"
)

// FuzzVerify: whatever a director or a cache file holds, verifying it
// neither panics nor accepts anything not signed with the site's key.
func FuzzVerify(f *testing.F) {
	psk := mustPSK(f, testKey)
	good := envelope(f, psk, "t", 3)
	for _, b := range [][]byte{good, tamper(f, good), []byte(`{"payload":"e30=","mac":"AA=="}`), []byte("null"), {}} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, site := range []string{"", "t"} {
			s, err := NewSubscriber(SubscriberConfig{Director: "http://127.0.0.1:1", PSK: psk, Site: site, ID: "a", Kind: api.KindNode})
			if err != nil {
				t.Fatal(err)
			}
			snap, err := s.verify(b, 0)
			if err == nil && (snap == nil || snap.Site != "t") {
				t.Fatalf("accepted %q", b)
			}
		}
	})
}

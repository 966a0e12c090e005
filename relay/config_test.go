package relay

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/cluster"
)

func TestConfigValidation(t *testing.T) {
	good := func() Config {
		return Config{Address: netip.MustParseAddr("198.51.100.7"), Realm: "support.example.com", Secrets: [][]byte{testSecret},
			Relay: cluster.DefaultRelay()}
	}
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string // error substring; "" for valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"no address", func(c *Config) { c.Address = netip.Addr{} }, "address is required"},
		{"no realm", func(c *Config) { c.Realm = "" }, "realm is required"},
		{"no secret", func(c *Config) { c.Secrets = nil }, "at least one relay secret"},
		{"short secret", func(c *Config) { c.Secrets = [][]byte{[]byte("short")} }, "too short"},
		{"mixed families", func(c *Config) { c.ListenAddress = netip.MustParseAddr("::1") }, "different families"},
		{"bad udp port", func(c *Config) { c.Relay.UDPPort = 70000 }, "udp_port 70000"},
		{"port not from the site", func(c *Config) { c.Relay.TCPPort = 0 }, "tcp_port 0"},
		{"tls port not from the site", func(c *Config) { c.Relay.TLSPort = 0 }, "tls_port 0"},
		{"range not from the site", func(c *Config) { c.Relay.PortMin, c.Relay.PortMax = 0, 0 }, "port range 0-0"},
		{"tls listener off", func(c *Config) { c.Relay.TLSPort = -1 }, ""},
		{"both listeners off", func(c *Config) { c.Relay.UDPPort, c.Relay.TCPPort = -1, -1 }, "both the UDP and the TCP"},
		{"inverted range", func(c *Config) { c.Relay.PortMin, c.Relay.PortMax = 60000, 50000 }, "port range"},
		{"cert without key", func(c *Config) { c.CertFile = "x.pem" }, "both a certificate and a key"},
		{"negative quota", func(c *Config) { c.Relay.MaxAllocations = -1 }, "quotas"},
		{"lifetime bounds", func(c *Config) { c.MinLifetime, c.MaxLifetime = time.Hour, time.Minute }, "lifetime bounds"},
		{"lifetime over an hour", func(c *Config) { c.MaxLifetime = 2 * time.Hour }, "exceeds"},
		{"allow prefix invalid", func(c *Config) { c.Relay.AllowPeers = []netip.Prefix{{}} }, "allow_peers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good()
			tc.change(&c)
			got, err := c.withDefaults()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				// The site's relay settings pass as they are; only wiring is defaulted.
				if !reflect.DeepEqual(got.Relay, c.Relay) || got.ListenAddress != c.Address ||
					got.MaxLifetime != DefaultMaxLifetime || got.MaxCredentialTTL != DefaultMaxCredentialTTL || got.Logger == nil {
					t.Errorf("defaults not applied: %+v", got)
				}
				return
			}
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want ErrConfig with %q", err, tc.want)
			}
		})
	}
	if _, err := New(Config{}); !errors.Is(err, ErrConfig) {
		t.Errorf("New(zero) = %v, want ErrConfig", err)
	}
	_ = cluster.Relay{}
}

func TestSecretIsText(t *testing.T) {
	psk, err := cluster.NewPSK([]byte("a site pre-shared key of some length"))
	if err != nil {
		t.Fatal(err)
	}
	s := cluster.RelaySecret(psk)
	if len(s) != 64 || strings.Trim(string(s), "0123456789abcdef") != "" {
		t.Errorf("secret %q is not 64 hex digits", s)
	}
	if string(cluster.RelaySecret(psk)) != string(s) {
		t.Error("secret is not deterministic")
	}
}

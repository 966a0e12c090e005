package relay

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/internal/testkit"
)

func TestCredentialFormat(t *testing.T) {
	// coturn's documented example of the TURN REST scheme.
	u, p := cluster.RelayCredential([]byte("north"), "mike", time.Unix(1600000000, 0))
	if u != "1600000000:mike" {
		t.Errorf("username %q", u)
	}
	if p != cluster.RelayPassword([]byte("north"), "1600000000:mike") || len(p) != 28 {
		t.Errorf("password %q", p)
	}
	exp, user, err := ParseUsername(u)
	if err != nil || user != "mike" || exp.Unix() != 1600000000 {
		t.Errorf("ParseUsername(%q) = %v, %q, %v", u, exp, user, err)
	}
	for _, bad := range []string{"", "mike", "x:mike", "-5:mike", ":mike"} {
		if _, _, err := ParseUsername(bad); !errors.Is(err, ErrBadCredential) {
			t.Errorf("ParseUsername(%q) err %v, want ErrBadCredential", bad, err)
		}
	}
}

func TestCredentialsRefused(t *testing.T) {
	previous := []byte("fedcba9876543210fedcba9876543210")
	reg := prometheus.NewRegistry()
	r := startRelay(t, "127.0.0.26", Config{Secrets: [][]byte{testSecret, previous}, Registerer: reg, MaxCredentialTTL: 24 * time.Hour})
	now := time.Now()
	for _, tc := range []struct {
		name     string
		username string
		password string
		reason   string // "" for accepted
	}{
		{name: "current secret", username: "U", reason: ""},
		{name: "previous secret", username: "P", reason: ""},
		{name: "expired", username: "E", reason: ReasonExpired},
		{name: "far future", username: "F", reason: ReasonFuture},
		{name: "wrong password", username: "W", reason: ReasonBadPassword},
		{name: "unknown secret", username: "X", reason: ReasonBadPassword},
		{name: "malformed username", username: "M", reason: ReasonMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var u, p string
			switch tc.username {
			case "U":
				u, p = cluster.RelayCredential(testSecret, "alice", now.Add(time.Hour))
			case "P":
				u, p = cluster.RelayCredential(previous, "alice", now.Add(time.Hour))
			case "E":
				u, p = cluster.RelayCredential(testSecret, "alice", now.Add(-time.Second))
			case "F":
				u, p = cluster.RelayCredential(testSecret, "alice", now.Add(25*time.Hour))
			case "W":
				u, _ = cluster.RelayCredential(testSecret, "alice", now.Add(time.Hour))
				p = "d3JvbmcgcGFzc3dvcmQ="
			case "X":
				u, p = cluster.RelayCredential([]byte("not the relay's secret, at all!!"), "alice", now.Add(time.Hour))
			case "M":
				u, p = "alice", cluster.RelayPassword(testSecret, "alice")
			}
			before := r.Stats().RefusedBy[tc.reason]
			c, err := dialClient(t, "udp", "127.0.0.22", "127.0.0.26:3478", u, p)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("allocate: %v", err)
				}
				c.close()
				return
			}
			if err == nil {
				t.Fatalf("allocation with a %s credential succeeded", tc.name)
			}
			if got := r.Stats().RefusedBy[tc.reason]; got <= before {
				t.Errorf("refusals[%s] = %d, want > %d", tc.reason, got, before)
			}
		})
	}
	for _, reason := range []string{ReasonExpired, ReasonFuture, ReasonBadPassword, ReasonMalformed} {
		if v := testkit.Metric(t, reg, "meridian_relay_refusals_total", "reason", reason); v < 1 {
			t.Errorf("meridian_relay_refusals_total{reason=%q} = %v", reason, v)
		}
	}
}

func TestLogsCarryNoCredential(t *testing.T) {
	logger, logs := testkit.NewLogger()
	startRelay(t, "127.0.0.27", Config{Logger: logger})
	u, _ := cluster.RelayCredential(testSecret, "alice", time.Now().Add(time.Hour))
	wrong := "c2VjcmV0LXBhc3N3b3JkLXZhbHVl"
	if _, err := dialClient(t, "udp", "127.0.0.22", "127.0.0.27:3478", u, wrong); err == nil {
		t.Fatal("wrong password accepted")
	}
	out := logs.String()
	if !strings.Contains(out, ReasonBadPassword) {
		t.Fatalf("refusal not logged:\n%s", out)
	}
	for _, secret := range []string{wrong, string(testSecret), cluster.RelayPassword(testSecret, u)} {
		if strings.Contains(out, secret) {
			t.Errorf("log carries a credential:\n%s", out)
		}
	}
}

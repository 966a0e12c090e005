package relay

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/pion/stun"
)

func TestClampLifetime(t *testing.T) {
	r := newRelay(Config{MinLifetime: time.Minute, MaxLifetime: 20 * time.Minute})
	key := stun.NewLongTermIntegrity("1:u", "realm", "pw")
	build := func(method stun.Method, lifetime int) *stun.Message {
		setters := []stun.Setter{stun.TransactionID, stun.NewType(method, stun.ClassRequest), stun.NewUsername("1:u")}
		if lifetime >= 0 {
			var v [4]byte
			binary.BigEndian.PutUint32(v[:], uint32(lifetime))
			setters = append(setters, stun.RawAttribute{Type: attrLifetime, Value: v[:]})
		}
		setters = append(setters, key, stun.Fingerprint)
		m := stun.MustBuild(setters...)
		return m
	}
	for _, tc := range []struct {
		name     string
		method   stun.Method
		lifetime int // -1: absent
		want     int // -1: unchanged
	}{
		{"allocate in bounds", stun.MethodAllocate, 300, -1},
		{"allocate absent, default in bounds", stun.MethodAllocate, -1, -1},
		{"allocate too long", stun.MethodAllocate, 7200, 1200},
		{"allocate too short", stun.MethodAllocate, 5, 60},
		{"refresh too long", stun.MethodRefresh, 3600, 1200},
		{"refresh zero deallocates", stun.MethodRefresh, 0, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := build(tc.method, tc.lifetime)
			out := r.clampLifetime(m, key, tc.method == stun.MethodAllocate)
			if tc.want < 0 {
				if out != nil {
					t.Fatal("message rewritten")
				}
				return
			}
			if out == nil {
				t.Fatal("message not rewritten")
			}
			got := &stun.Message{Raw: out}
			if err := got.Decode(); err != nil {
				t.Fatal(err)
			}
			v, err := got.Get(attrLifetime)
			if err != nil || binary.BigEndian.Uint32(v) != uint32(tc.want) {
				t.Errorf("lifetime %v (%v), want %d", v, err, tc.want)
			}
			if err := key.Check(got); err != nil {
				t.Errorf("integrity: %v", err)
			}
			if err := stun.Fingerprint.Check(got); err != nil {
				t.Errorf("fingerprint: %v", err)
			}
			if got.TransactionID != m.TransactionID || got.Type != m.Type {
				t.Error("transaction or type changed")
			}
			var u stun.Username
			if err := u.GetFrom(got); err != nil || u.String() != "1:u" {
				t.Errorf("username lost: %v", err)
			}
		})
	}
}

package bgp

import (
	"strings"
	"testing"
	"time"
)

// TestMachine steps the announce/withdraw decisions through time.
func TestMachine(t *testing.T) {
	type ev struct {
		at   time.Duration // since start
		what string        // ok, fail, drain, undrain, hold, release, stop, tick
		want action
		// phase after the event; "" skips the check
		phase Phase
	}
	const (
		gshut = 2 * time.Second
		minIv = 10 * time.Second
	)
	tests := []struct {
		name       string
		rise, fall int
		events     []ev
		wantReason string // substring of the last reason
	}{
		{"rise before the first announce", 2, 2, []ev{
			{0, "ok", actNone, PhaseWithdrawn},
			{1 * time.Second, "ok", actAnnounce, PhaseAnnounced},
		}, "healthy (2 checks"},
		{"fall withdraws at once, no grace", 1, 2, []ev{
			{0, "ok", actAnnounce, PhaseAnnounced},
			{1 * time.Second, "fail", actNone, PhaseAnnounced},
			{2 * time.Second, "fail", actWithdraw, PhaseWithdrawn},
		}, "local health failed: probe: refused"},
		{"a failure between passes resets the rise count", 3, 1, []ev{
			{0, "ok", actNone, ""},
			{1 * time.Second, "ok", actNone, ""},
			{2 * time.Second, "fail", actNone, ""},
			{3 * time.Second, "ok", actNone, ""},
			{4 * time.Second, "ok", actNone, ""},
			{5 * time.Second, "ok", actAnnounce, PhaseAnnounced},
		}, "healthy"},
		{"hold-down: rise passes and the minimum interval", 2, 1, []ev{
			{0, "ok", actNone, ""},
			{0, "ok", actAnnounce, PhaseAnnounced},
			{1 * time.Second, "fail", actWithdraw, PhaseWithdrawn},
			{2 * time.Second, "ok", actNone, ""},
			{3 * time.Second, "ok", actNone, PhaseWithdrawn}, // healthy, but 2s after the withdraw
			{10 * time.Second, "tick", actNone, PhaseWithdrawn},
			{11 * time.Second, "tick", actAnnounce, PhaseAnnounced},
		}, "healthy"},
		{"drain: graceful shutdown, wait, withdraw", 1, 1, []ev{
			{0, "ok", actAnnounce, PhaseAnnounced},
			{1 * time.Second, "drain", actGshut, PhaseGracefulShutdown},
			{2 * time.Second, "tick", actNone, PhaseGracefulShutdown},
			{3 * time.Second, "tick", actWithdraw, PhaseWithdrawn},
		}, "drain"},
		{"health fails during the graceful wait", 1, 1, []ev{
			{0, "ok", actAnnounce, PhaseAnnounced},
			{1 * time.Second, "drain", actGshut, PhaseGracefulShutdown},
			{1500 * time.Millisecond, "fail", actWithdraw, PhaseWithdrawn},
		}, "local health failed"},
		{"undrain during the graceful wait", 1, 1, []ev{
			{0, "ok", actAnnounce, PhaseAnnounced},
			{1 * time.Second, "drain", actGshut, PhaseGracefulShutdown},
			{2 * time.Second, "undrain", actAnnounce, PhaseAnnounced},
		}, "drain cancelled"},
		{"undrain after the withdraw waits for rise fresh passes", 2, 1, []ev{
			{0, "ok", actNone, ""},
			{0, "ok", actAnnounce, PhaseAnnounced},
			{1 * time.Second, "drain", actGshut, ""},
			{3 * time.Second, "tick", actWithdraw, PhaseWithdrawn},
			{20 * time.Second, "undrain", actNone, PhaseWithdrawn},
			{21 * time.Second, "ok", actNone, PhaseWithdrawn},
			{22 * time.Second, "ok", actAnnounce, PhaseAnnounced},
		}, "healthy"},
		{"operator withdraw holds whatever the health", 1, 1, []ev{
			{0, "ok", actAnnounce, PhaseAnnounced},
			{1 * time.Second, "hold", actGshut, PhaseGracefulShutdown},
			{3 * time.Second, "ok", actWithdraw, PhaseWithdrawn},
			{30 * time.Second, "ok", actNone, PhaseWithdrawn},
		}, "withdrawn by operator: maintenance"},
		{"shutdown is graceful", 1, 1, []ev{
			{0, "ok", actAnnounce, PhaseAnnounced},
			{1 * time.Second, "stop", actGshut, PhaseGracefulShutdown},
			{3 * time.Second, "tick", actWithdraw, PhaseWithdrawn},
		}, "shutdown"},
		{"not accepting at start never announces", 1, 1, []ev{
			{0, "drain", actNone, PhaseWithdrawn},
			{1 * time.Second, "ok", actNone, PhaseWithdrawn},
		}, "starting"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			m := newMachine(checkSettings{rise: tt.rise, fall: tt.fall}, gshut, minIv, true, start)
			for i, e := range tt.events {
				now := start.Add(e.at)
				switch e.what {
				case "ok":
					m.check(checkResult{ok: true, at: now})
				case "fail":
					m.check(checkResult{detail: "probe: refused", at: now})
				case "drain":
					m.accepting = false
				case "undrain":
					m.accepting = true
				case "hold":
					m.held = "maintenance"
				case "release":
					m.held = ""
				case "stop":
					m.stopping = true
				case "tick":
				default:
					t.Fatalf("event %d: unknown %q", i, e.what)
				}
				if got := m.step(now); got != e.want {
					t.Fatalf("event %d (%s at %s): action %d, want %d (reason %q)", i, e.what, e.at, got, e.want, m.reason)
				}
				if again := m.step(now); again != actNone {
					t.Fatalf("event %d: second step gave %d, want a fixed point", i, again)
				}
				if e.phase != "" && m.phase != e.phase {
					t.Fatalf("event %d (%s at %s): phase %s, want %s", i, e.what, e.at, m.phase, e.phase)
				}
			}
			if !strings.Contains(m.reason, tt.wantReason) {
				t.Errorf("reason %q, want it to contain %q", m.reason, tt.wantReason)
			}
		})
	}
}

// TestMachineWake: the loop's timer fires at the end of the graceful wait
// and of the hold-down, and not at all while only an event can help.
func TestMachineWake(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := newMachine(checkSettings{rise: 1, fall: 1}, 2*time.Second, 10*time.Second, true, start)
	if w := m.wake(); !w.IsZero() {
		t.Errorf("wake before any check = %s, want none", w)
	}
	m.check(checkResult{ok: true})
	m.step(start)
	m.accepting = false
	m.step(start.Add(time.Second))
	if w := m.wake(); !w.Equal(start.Add(3 * time.Second)) {
		t.Errorf("wake during graceful shutdown = %s, want start+3s", w.Sub(start))
	}
	m.step(start.Add(3 * time.Second))
	m.accepting = true
	m.check(checkResult{ok: true})
	if w := m.wake(); !w.Equal(start.Add(13 * time.Second)) {
		t.Errorf("wake in hold-down = %s, want start+13s", w.Sub(start))
	}
}

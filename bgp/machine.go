package bgp

import (
	"fmt"
	"time"

	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/health"
)

// Phase is where the speaker's announcement stands.
type Phase string

// Phases.
const (
	PhaseWithdrawn        Phase = "withdrawn"
	PhaseAnnounced        Phase = "announced"
	PhaseGracefulShutdown Phase = "graceful-shutdown" // announced with 65535:0, withdraw pending
)

// action is what the speaker must do to GoBGP's RIB.
type action int

const (
	actNone     action = iota
	actAnnounce        // announce the prefixes (plain)
	actGshut           // re-announce with GRACEFUL_SHUTDOWN
	actWithdraw        // withdraw the prefixes
)

// machine decides when to announce and withdraw. It is pure: events carry
// the time, and the speaker's loop performs the actions it returns.
type machine struct {
	rise, fall  int
	gshutWait   time.Duration
	minInterval time.Duration

	local         *health.RiseFall // local health after rise/fall
	passes        int              // passing checks in a row since the last failure or withdraw
	lastCheck     string           // why the last check failed
	accepting     bool
	held          string // operator withdraw reason; "" when not held
	stopping      bool
	phase         Phase
	withdrawnAt   time.Time // zero before the first withdraw
	gshutUntil    time.Time
	plannedReason string // why the graceful shutdown began
	reason        string // why the phase last changed
	changedAt     time.Time
	plannedKind   string
	lastKind      string // kind of the last withdraw: health, drain, operator, shutdown
}

func newMachine(cs checkSettings, gshutWait, minInterval time.Duration, accepting bool, now time.Time) *machine {
	return &machine{
		rise: cs.rise, fall: cs.fall,
		gshutWait: gshutWait, minInterval: minInterval,
		local:     health.NewRiseFall(cs.rise, cs.fall, cluster.Unknown),
		accepting: accepting,
		phase:     PhaseWithdrawn,
		reason:    "starting: waiting for local health",
		changedAt: now,
	}
}

// check records one health check result. Health rises after rise passes
// in a row and falls after fall failures in a row.
func (m *machine) check(r checkResult) {
	m.local.Observe(r.err())
	if r.ok {
		m.passes++
		return
	}
	m.passes = 0
	m.lastCheck = r.detail
}

// healthy reports the local health after rise/fall; false until the first
// rise passes.
func (m *machine) healthy() bool { return m.local.Up() }

// Withdraw kinds, the label of the withdraw counter.
const (
	kindHealth   = "health"
	kindDrain    = "drain"
	kindOperator = "operator"
	kindShutdown = "shutdown"
)

// want reports whether the prefixes should be announced, and if not, the
// kind of withdraw and why.
func (m *machine) want() (ok bool, kind, why string) {
	switch {
	case !m.healthy():
		return false, kindHealth, "local health failed: " + m.lastCheck
	case m.stopping:
		return false, kindShutdown, "shutdown"
	case m.held != "":
		return false, kindOperator, "withdrawn by operator: " + m.held
	case !m.accepting:
		return false, kindDrain, "drain: node not accepting"
	}
	return true, "", ""
}

// step returns the next action at time now and applies it to the phase.
// The caller calls step again until it returns actNone.
func (m *machine) step(now time.Time) action {
	want, kind, why := m.want()
	switch m.phase {
	case PhaseAnnounced:
		switch {
		case !m.healthy():
			// A node that cannot serve leaves at once, no grace.
			return m.withdraw(now, kind, why)
		case !want:
			m.phase = PhaseGracefulShutdown
			m.gshutUntil = now.Add(m.gshutWait)
			m.plannedKind, m.plannedReason = kind, why
			m.set(now, "graceful shutdown ("+why+")")
			return actGshut
		}
	case PhaseGracefulShutdown:
		switch {
		case !m.healthy():
			return m.withdraw(now, kind, why)
		case want:
			// Undrained before the wait ended: nothing was withdrawn, so
			// no hold-down applies.
			m.phase = PhaseAnnounced
			m.set(now, "drain cancelled")
			return actAnnounce
		case !now.Before(m.gshutUntil):
			return m.withdraw(now, m.plannedKind, m.plannedReason)
		}
	case PhaseWithdrawn:
		if want && m.passes >= m.rise && !now.Before(m.holdUntil()) {
			m.phase = PhaseAnnounced
			m.set(now, fmt.Sprintf("healthy (%d checks in a row) and accepting", m.passes))
			return actAnnounce
		}
	}
	return actNone
}

func (m *machine) withdraw(now time.Time, kind, why string) action {
	m.phase = PhaseWithdrawn
	m.withdrawnAt = now
	// Hold-down: rise fresh passes are needed after every withdraw, even a
	// planned one with health intact.
	m.passes = 0
	m.lastKind = kind
	m.set(now, why)
	return actWithdraw
}

func (m *machine) set(now time.Time, reason string) {
	m.reason = reason
	m.changedAt = now
}

// holdUntil is the earliest time of the next announce.
func (m *machine) holdUntil() time.Time {
	if m.withdrawnAt.IsZero() {
		return time.Time{}
	}
	return m.withdrawnAt.Add(m.minInterval)
}

// wake is when step must run again without a new event; zero when only an
// event can change anything.
func (m *machine) wake() time.Time {
	switch m.phase {
	case PhaseGracefulShutdown:
		return m.gshutUntil
	case PhaseWithdrawn:
		if want, _, _ := m.want(); want && m.passes >= m.rise {
			return m.holdUntil()
		}
	}
	return time.Time{}
}

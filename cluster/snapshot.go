package cluster

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"time"
)

// SnapshotFormat is the encoding version of Snapshot. A subscriber refuses
// any other.
const SnapshotFormat = 1

// Snapshot is one versioned copy of the whole site: the configuration and
// the run-time state of every node and master. The director publishes a new
// one for every config version and every state change; subscribers hold the
// newest one they could verify.
type Snapshot struct {
	Format        int           `json:"format"`
	Site          string        `json:"site"`
	Version       uint64        `json:"version"`        // monotonic over all changes
	ConfigVersion uint64        `json:"config_version"` // the config version it carries
	Published     time.Time     `json:"published"`
	Config        *Site         `json:"config"`
	Nodes         []NodeState   `json:"nodes"`   // one per config node, in config order
	Masters       []MasterState `json:"masters"` // primary first, then backup
}

// Health is a probed state.
type Health string

// Probe outcomes. Unknown is the state before the first verdict.
const (
	Unknown Health = "unknown"
	Up      Health = "up"
	Down    Health = "down"
)

// NodeState is the run-time state of a traffic node.
type NodeState struct {
	Name    string    `json:"name"`
	Health  Health    `json:"health"`
	Drained bool      `json:"drained"` // ctl drain: no new clients, existing ones stay
	Since   time.Time `json:"since"`   // last health change
	Reason  string    `json:"reason"`  // why the last change happened
	// Withdrawn, when set, is the operator's reason for `ctl bgp withdraw`:
	// the node's speaker withdraws its anycast prefixes (after the
	// graceful-shutdown community) until the operator resumes it.
	Withdrawn string `json:"withdrawn,omitempty"`
	// Announcing are the anycast prefixes the node's speaker announces, as
	// its last heartbeat said.
	Announcing []netip.Prefix `json:"announcing,omitempty"`
}

// MasterState is the run-time state of a master (director host).
type MasterState struct {
	Name   string    `json:"name"`
	Health Health    `json:"health"`
	Since  time.Time `json:"since"`
	Reason string    `json:"reason"`
}

// Node returns the state of the named node; a node without one is Unknown.
func (s *Snapshot) Node(name string) NodeState {
	for _, n := range s.Nodes {
		if n.Name == name {
			return n
		}
	}
	return NodeState{Name: name, Health: Unknown}
}

// Master returns the state of the named master; absent is Unknown.
func (s *Snapshot) Master(name string) MasterState {
	for _, m := range s.Masters {
		if m.Name == name {
			return m
		}
	}
	return MasterState{Name: name, Health: Unknown}
}

// Accepting reports whether node n takes new clients: accepting in the
// config and not drained at run time. st is n's run-time state, nil when
// none is known (not drained). This is the one definition; every part asks
// it, directly or through Snapshot.Accepting.
func Accepting(n *Node, st *NodeState) bool {
	return n.Accepting && (st == nil || !st.Drained)
}

// Accepting reports whether node n takes new clients under this snapshot's
// run-time state (see the function Accepting). A nil snapshot knows no
// state: the config alone decides.
func (s *Snapshot) Accepting(n *Node) bool {
	if s == nil {
		return Accepting(n, nil)
	}
	st := s.Node(n.Name)
	return Accepting(n, &st)
}

// Encode returns the deterministic encoding of s: encoding/json writes
// struct fields in declaration order and no maps are used.
func (s *Snapshot) Encode() ([]byte, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode snapshot %d: %w", s.Version, err)
	}
	return b, nil
}

// DecodeSnapshot reads an encoded snapshot and checks its format.
func DecodeSnapshot(b []byte) (*Snapshot, error) {
	var s Snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("decode snapshot: %w", err)
	}
	if s.Format != SnapshotFormat {
		return nil, fmt.Errorf("%w %d (want %d)", ErrFormat, s.Format, SnapshotFormat)
	}
	if s.Config == nil {
		return nil, fmt.Errorf("decode snapshot %d: no config", s.Version)
	}
	return &s, nil
}

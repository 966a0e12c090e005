package store

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"time"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/cluster"
)

// ConfigRecord is one config version. Versions are immutable.
type ConfigRecord struct {
	Version uint64    `json:"version"`
	Author  string    `json:"author"`
	Time    time.Time `json:"time"`
	Comment string    `json:"comment"`
	Diff    string    `json:"diff"`
	File    string    `json:"file"` // the name the site file was applied under
	Text    string    `json:"text"`
}

// CurrentRecord points at the running config version.
type CurrentRecord struct {
	Version uint64    `json:"version"`
	At      time.Time `json:"at"`
}

// StateRecord is the run-time state of a node or master. At is the time of
// the write, so a snapshot's Published time comes from the store and is the
// same on every director.
type StateRecord struct {
	Health     cluster.Health `json:"health"`
	Since      time.Time      `json:"since"`
	Reason     string         `json:"reason"`
	Drained    bool           `json:"drained,omitempty"`
	Announcing []netip.Prefix `json:"announcing,omitempty"`
	At         time.Time      `json:"at"`
	// Withdrawn is the operator's anycast withdraw reason ("" when not
	// withdrawn); WithdrawnBy is who asked.
	Withdrawn   string `json:"withdrawn,omitempty"`
	WithdrawnBy string `json:"withdrawn_by,omitempty"`
}

// MarkerRecord is written by "sync now" so that the snapshot version moves.
type MarkerRecord struct {
	At time.Time `json:"at"`
	By string    `json:"by"`
}

// HeartbeatRecord is a node's last heartbeat as received.
type HeartbeatRecord struct {
	Received  time.Time     `json:"received"`
	Director  string        `json:"director"`
	Heartbeat api.Heartbeat `json:"heartbeat"`
}

// Decode unmarshals the record stored under key.
func Decode[T any](key string, b []byte) (T, error) {
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("decode %s: %w", key, err)
	}
	return v, nil
}

// Encode marshals a record. The records hold strings, integers, prefixes
// and times made here or decoded from JSON (so no NaN and no year past
// 9999): json.Marshal cannot fail on them, and a failure is a bug.
func Encode(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic("director store: encode record: " + err.Error())
	}
	return string(b)
}

package director

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/cluster"
)

// keyRoot is the prefix of every site's keys: /meridian/<site>/...
const keyRoot = "/meridian/"

// keys is the layout of one site's keys in etcd.
//
//	config/current          currentRecord: the running config version
//	config/versions/<v>     configRecord: every version's site file and diff
//	nodes/<name>            stateRecord of a traffic node
//	masters/<name>          stateRecord of a master
//	heartbeats/<name>       heartbeatRecord, under a lease
//	sync/marker             markerRecord: written by "sync now"
//	sync/history/<t>-<dir>  api.SyncEvent, bounded
//	election/...            leader election (client/v3/concurrency)
//
// A snapshot is built from current, its version, nodes, masters and the
// marker only, so heartbeats and history do not publish new snapshots.
type keys struct{ root string }

func newKeys(site string) keys { return keys{root: keyRoot + site + "/"} }

func (k keys) current() string           { return k.root + "config/current" }
func (k keys) versions() string          { return k.root + "config/versions/" }
func (k keys) version(v uint64) string   { return fmt.Sprintf("%s%020d", k.versions(), v) }
func (k keys) nodes() string             { return k.root + "nodes/" }
func (k keys) node(name string) string   { return k.nodes() + name }
func (k keys) masters() string           { return k.root + "masters/" }
func (k keys) master(name string) string { return k.masters() + name }
func (k keys) heartbeats() string        { return k.root + "heartbeats/" }
func (k keys) heartbeat(name string) string {
	return k.heartbeats() + name
}
func (k keys) marker() string   { return k.root + "sync/marker" }
func (k keys) history() string  { return k.root + "sync/history/" }
func (k keys) election() string { return k.root + "election" }

// snapshotKey reports whether a change of key changes the snapshot.
func (k keys) snapshotKey(key string) bool {
	return key == k.current() || key == k.marker() ||
		strings.HasPrefix(key, k.nodes()) || strings.HasPrefix(key, k.masters())
}

// configRecord is one config version. Versions are immutable.
type configRecord struct {
	Version uint64    `json:"version"`
	Author  string    `json:"author"`
	Time    time.Time `json:"time"`
	Comment string    `json:"comment"`
	Diff    string    `json:"diff"`
	File    string    `json:"file"` // the name the site file was applied under
	Text    string    `json:"text"`
}

// currentRecord points at the running config version.
type currentRecord struct {
	Version uint64    `json:"version"`
	At      time.Time `json:"at"`
}

// stateRecord is the run-time state of a node or master. At is the time of
// the write, so a snapshot's Published time comes from the store and is the
// same on every director.
type stateRecord struct {
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

// markerRecord is written by "sync now" so that the snapshot version moves.
type markerRecord struct {
	At time.Time `json:"at"`
	By string    `json:"by"`
}

// heartbeatRecord is a node's last heartbeat as received.
type heartbeatRecord struct {
	Received  time.Time     `json:"received"`
	Director  string        `json:"director"`
	Heartbeat api.Heartbeat `json:"heartbeat"`
}

func decode[T any](key string, b []byte) (T, error) {
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("decode %s: %w", key, err)
	}
	return v, nil
}

// encode marshals a record. The records hold strings, integers, prefixes
// and times made here or decoded from JSON (so no NaN and no year past
// 9999): json.Marshal cannot fail on them, and a failure is a bug.
func encode(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic("director: encode record: " + err.Error())
	}
	return string(b)
}

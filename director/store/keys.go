package store

import (
	"fmt"
	"strings"
)

// KeyRoot is the prefix of every site's keys: /meridian/<site>/...
const KeyRoot = "/meridian/"

// Keys is the layout of one site's keys in etcd.
//
//	config/current          CurrentRecord: the running config version
//	config/versions/<v>     ConfigRecord: every version's site file and diff
//	nodes/<name>            StateRecord of a traffic node
//	masters/<name>          StateRecord of a master
//	heartbeats/<name>       HeartbeatRecord, under a lease
//	sync/marker             MarkerRecord: written by "sync now"
//	sync/history/<t>-<dir>  api.SyncEvent, bounded
//	election/...            leader election (client/v3/concurrency)
//	sessions/<id>           a broker session, under the session's lease
//	audit/<t>-<rand>        api.AuditEntry: operators' actions, bounded
//
// A snapshot is built from current, its version, nodes, masters and the
// marker only, so heartbeats, history, audit and sessions do not publish new
// snapshots.
type Keys struct{ root string }

// NewKeys is the layout of site's keys.
func NewKeys(site string) Keys { return Keys{root: KeyRoot + site + "/"} }

// Root is the prefix of all of the site's keys.
func (k Keys) Root() string { return k.root }

func (k Keys) Current() string           { return k.root + "config/current" }
func (k Keys) Versions() string          { return k.root + "config/versions/" }
func (k Keys) Version(v uint64) string   { return fmt.Sprintf("%s%020d", k.Versions(), v) }
func (k Keys) Nodes() string             { return k.root + "nodes/" }
func (k Keys) Node(name string) string   { return k.Nodes() + name }
func (k Keys) Masters() string           { return k.root + "masters/" }
func (k Keys) Master(name string) string { return k.Masters() + name }
func (k Keys) Heartbeats() string        { return k.root + "heartbeats/" }
func (k Keys) Heartbeat(name string) string {
	return k.Heartbeats() + name
}
func (k Keys) Marker() string   { return k.root + "sync/marker" }
func (k Keys) Audit() string    { return k.root + "audit/" }
func (k Keys) History() string  { return k.root + "sync/history/" }
func (k Keys) Election() string { return k.root + "election" }

// SnapshotKey reports whether a change of key changes the snapshot.
func (k Keys) SnapshotKey(key string) bool {
	return key == k.Current() || key == k.Marker() ||
		strings.HasPrefix(key, k.Nodes()) || strings.HasPrefix(key, k.Masters())
}

func (k Keys) Sessions() string         { return k.root + "sessions/" }
func (k Keys) Session(id string) string { return k.Sessions() + id }

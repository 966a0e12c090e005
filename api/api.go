// Package api is the director's HTTP contract: paths, headers and the JSON
// bodies shared by the director, its subscribers (node agents, DNS servers,
// backup directors) and `meridian ctl`.
//
// Two kinds of callers, two kinds of authentication:
//   - operators (ctl, the status page) send "Authorization: Bearer TOKEN",
//     the admin token;
//   - subscribers sign every request with the PSK (cluster.RequestAuth:
//     "Authorization: Meridian ts=..,nonce=..,mac=.."), timestamp within
//     ±30 s, nonce never seen before.
//
// Errors are JSON Error bodies with a 4xx/5xx status.
package api

import (
	"net/netip"
	"time"

	"github.com/meridian-traffic/meridian/cluster"
)

// Paths. {name} is a node name.
const (
	// Unauthenticated.
	PathHealth = "/healthz" // GET: 200 "ok" while the director serves

	// PSK-authenticated (subscribers).
	PathSync      = "/v1/sync"      // GET ?after=V&subscriber=ID&kind=KIND: long-poll, see below
	PathHeartbeat = "/v1/heartbeat" // POST Heartbeat: 204

	// Admin token (operators).
	PathStatus      = "/v1/status"               // GET: Status
	PathNodes       = "/v1/nodes"                // GET: []NodeStatus
	PathNode        = "/v1/nodes/{name}"         // DELETE: remove the node from the site (new config version)
	PathDrain       = "/v1/nodes/{name}/drain"   // POST: ChangeResult
	PathUndrain     = "/v1/nodes/{name}/undrain" // POST: ChangeResult
	PathConfig      = "/v1/config"               // GET: current site file (YAML); POST YAML body: ChangeResult or 400 Error with Fields
	PathHistory     = "/v1/config/history"       // GET: []ConfigVersion, newest first
	PathRollback    = "/v1/config/rollback"      // POST ?version=V: ChangeResult
	PathSyncNow     = "/v1/sync/now"             // POST ?timeout=5s: SyncReport
	PathSyncHistory = "/v1/sync/history"         // GET: []SyncEvent, newest first
	PathExplain     = "/v1/explain"              // GET ?ip=A[&offset=+02:00]: Explain
	// Operator's anycast withdraw: POST [BGPWithdraw body or ?reason=]:
	// ChangeResult. Held in NodeState.Withdrawn until resumed.
	PathBGPWithdraw = "/v1/nodes/{name}/bgp/withdraw"
	PathBGPResume   = "/v1/nodes/{name}/bgp/resume" // POST: ChangeResult
	PathAudit       = "/v1/audit"                   // GET ?limit=N: []AuditEntry, newest first
	PathWhoAmI      = "/v1/whoami"                  // GET: WhoAmI, the operator the admin token names
)

// DefaultWithdrawReason is the reason of a withdraw that gives none.
const DefaultWithdrawReason = "operator"

// BGPWithdraw is the optional body of POST PathBGPWithdraw.
type BGPWithdraw struct {
	Reason string `json:"reason"`
}

// Headers.
const (
	// HeaderAuthor named who made a change before admin tokens named their
	// operators. Directors ignore it: the author of a change or an audit
	// entry is the name of the admin token (PathWhoAmI).
	HeaderAuthor = "X-Meridian-Author"
	// HeaderReason is the operator's optional reason for an action, kept
	// in the audit.
	HeaderReason = "X-Meridian-Reason"
	// HeaderFile names the site file of a POST PathConfig body, for error
	// messages ("zones/example.yaml:27:9: ...").
	HeaderFile = "X-Meridian-File"
)

// Sync long-poll: GET PathSync?after=V&subscriber=ID&kind=KIND[&geoip=BUILD]
//   - 200 with a cluster.Envelope body (JSON) as soon as the director has a
//     snapshot newer than V (at once if it already has one);
//   - 204 when none arrived within the wait (30 s; ?wait=DURATION shortens
//     it); the subscriber asks again;
//   - 410 Gone with an Error when the subscriber's node was removed from the
//     site: the agent stops serving it and deletes its cached snapshot.
// KIND is one of the Kind constants; ID is unique per subscriber (a node
// name, "dns/HOST", "director/NAME"). BUILD is the subscriber's GeoIP
// database, "TYPE@BUILD_EPOCH" (a DNS server's; see geoip.DB.Build), shown
// in status beside the director's own.

// Subscriber kinds.
const (
	KindNode     = "node"
	KindDNS      = "dns"
	KindDirector = "director"
)

// Error is the body of every non-2xx answer.
type Error struct {
	Error  string               `json:"error"`
	Fields []cluster.FieldError `json:"fields,omitempty"` // config validation problems
}

// Heartbeat is what a node agent reports every few seconds.
type Heartbeat struct {
	Node       string         `json:"node"`
	Version    uint64         `json:"version"` // snapshot version held
	Uptime     Duration       `json:"uptime"`
	Load       float64        `json:"load"` // 1-minute load average
	Clients    int            `json:"clients"`
	Announcing []netip.Prefix `json:"announcing,omitempty"` // anycast prefixes the speaker announces
	// Relay and BGP detail, filled by those parts; opaque to the director
	// except for display.
	Relay *RelayStats `json:"relay,omitempty"`
	BGP   []BGPPeer   `json:"bgp,omitempty"`
	// BGPSpeaker is the speaker's announcement state, nil without one.
	BGPSpeaker *BGPSpeaker `json:"bgp_speaker,omitempty"`
	// RelayUsers are the relay's live allocations summed per user, for
	// connected clients (GET PathClients).
	RelayUsers []RelayUser `json:"relay_users,omitempty"`
}

// RelayStats is a relay's accounting summary.
type RelayStats struct {
	Allocations int    `json:"allocations"`
	BytesIn     uint64 `json:"bytes_in"`
	BytesOut    uint64 `json:"bytes_out"`
	Refused     uint64 `json:"refused"`
}

// BGPPeer is one neighbor session of a node's speaker.
type BGPPeer struct {
	Neighbor string    `json:"neighbor"`
	State    string    `json:"state"`
	Since    time.Time `json:"since"`
	Reason   string    `json:"reason"`
	// LastError is the last failure of the session (a notification, a
	// refused OPEN, no TCP session), kept until it is established.
	LastError string `json:"last_error,omitempty"`
}

// BGPSpeaker is where a node's anycast announcement stands and why.
type BGPSpeaker struct {
	Phase      string    `json:"phase"` // announced, graceful-shutdown, withdrawn
	Healthy    bool      `json:"healthy"`
	Held       string    `json:"held,omitempty"` // the operator's withdraw reason the speaker holds
	LastChange time.Time `json:"last_change"`
	Reason     string    `json:"reason"` // why the phase last changed
}

// Status is the cluster page.
type Status struct {
	Site          string                `json:"site"`
	Version       uint64                `json:"version"`
	ConfigVersion uint64                `json:"config_version"`
	Director      string                `json:"director"` // this director's name
	Leader        string                `json:"leader"`   // the director running health checks
	Masters       []cluster.MasterState `json:"masters"`
	Nodes         []NodeStatus          `json:"nodes"`
	Subscribers   []Subscriber          `json:"subscribers"`
	Refused       []RefusedSubscriber   `json:"refused,omitempty"`
	// GeoIP is the build of the director's GeoIP database ("TYPE@EPOCH",
	// "" without one), which explain reads: DNS servers with another
	// build answer some clients differently from explain.
	GeoIP string `json:"geoip,omitempty"`
}

// NodeStatus is one row of `ctl nodes`.
type NodeStatus struct {
	cluster.NodeState
	Region        string     `json:"region"`
	Accepting     bool       `json:"accepting"` // config switch
	Secondary     bool       `json:"secondary"`
	LastHeartbeat time.Time  `json:"last_heartbeat"`
	Heartbeat     *Heartbeat `json:"heartbeat,omitempty"`
}

// Subscriber is one sync subscriber as the director last saw it.
type Subscriber struct {
	ID       string    `json:"id"`
	Kind     string    `json:"kind"`
	Version  uint64    `json:"version"` // last version it acknowledged (its ?after=)
	LastSeen time.Time `json:"last_seen"`
	Lagging  bool      `json:"lagging"` // holds an older version than current for longer than a poll
	// Behind counts the snapshot versions the director published after
	// the one the subscriber holds (versions are store revisions, so their
	// difference is no count).
	Behind uint64 `json:"behind,omitempty"`
	GeoIP  string `json:"geoip,omitempty"` // its GeoIP database build, as it last reported (?geoip=)
}

// Audit actions.
const (
	AuditApply       = "apply"
	AuditRollback    = "rollback"
	AuditDrain       = "drain"
	AuditUndrain     = "undrain"
	AuditRemove      = "node remove"
	AuditBGPWithdraw = "bgp withdraw"
	AuditBGPResume   = "bgp resume"
	AuditSyncNow     = "sync now"
)

// AuditEntry is one operational action: who did what, when and why. The
// director keeps them in the store beside the config history.
type AuditEntry struct {
	Time    time.Time `json:"time"`
	Who     string    `json:"who"`    // the operator named by the admin token
	Action  string    `json:"action"` // one of the Audit constants
	Target  string    `json:"target,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	Version uint64    `json:"version,omitempty"` // snapshot (or config version for apply/rollback) that carries it
	Result  string    `json:"result"`            // "ok" or the error
}

// WhoAmI names the operator an admin token belongs to.
type WhoAmI struct {
	Name string `json:"name"`
}

// RefusedSubscriber is a subscriber whose requests the director refused
// (a wrong key, a stale clock, a replay), by reason, as status shows it.
type RefusedSubscriber struct {
	ID       string    `json:"id"`
	Kind     string    `json:"kind"`
	Address  string    `json:"address"`
	Reason   string    `json:"reason"` // "mac" (wrong key), "time", "nonce", ...
	Count    uint64    `json:"count"`
	LastSeen time.Time `json:"last_seen"`
}

// ChangeResult answers a config change, rollback, drain or remove.
type ChangeResult struct {
	ConfigVersion uint64 `json:"config_version"`
	Version       uint64 `json:"version"` // the snapshot that carries it
	// Unchanged: the change stored nothing (the same site file, a node
	// already drained); ConfigVersion and Version are the running ones.
	Unchanged bool `json:"unchanged,omitempty"`
}

// ConfigVersion is one entry of the config history.
type ConfigVersion struct {
	Version uint64    `json:"version"`
	Author  string    `json:"author"`
	Time    time.Time `json:"time"`
	Comment string    `json:"comment"` // "apply", "rollback to 3", "remove node x"
	Diff    string    `json:"diff"`    // unified diff against the previous version's site file
}

// SyncEvent is one line of the cluster status history (seed 000): data
// sync started, finished or failed for one subscriber.
type SyncEvent struct {
	Time       time.Time `json:"time"`
	Subscriber string    `json:"subscriber"`
	Event      string    `json:"event"` // "started", "finished", "failed"
	Version    uint64    `json:"version"`
	Duration   Duration  `json:"duration,omitempty"`
	Reason     string    `json:"reason,omitempty"`
}

// SyncReport answers "sync now": what every subscriber did.
type SyncReport struct {
	Version uint64       `json:"version"`
	Events  []SyncEvent  `json:"events"`
	Lagging []Subscriber `json:"lagging"`
}

// Explain is the selection trace for one client.
type Explain struct {
	Client string   `json:"client"`
	Nodes  []string `json:"nodes"`
	Scope  int      `json:"scope"`
	Trace  []string `json:"trace"`
	// GeoIP is the build of the director's GeoIP database the trace was
	// made with ("" without one: geo and timezone fall back).
	GeoIP string `json:"geoip,omitempty"`
}

// Duration is a time.Duration in JSON as "1.5s".
type Duration = cluster.Duration

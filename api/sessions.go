package api

import (
	"net/netip"
	"time"
)

// Session broker paths. {id} is a session id (32 lower-case hex digits).
//
// The session API is for the applications of a support deployment (the
// support portal, the customer and representative apps), not for
// operators: its callers send "Authorization: Bearer TOKEN" with a client
// API token (director flag --client-token-file, one token per line; any
// listed token is accepted). Client tokens are separate from the admin
// token and never grant admin access. Requests are rate-limited per source
// address (429 Too Many Requests with Retry-After); malformed bodies,
// addresses and offsets get 400, unknown or ended sessions 404.
//
// Every request on a session renews it; a session ends when no party asks
// for SessionTTL (default 2m) or at its Expires time, whichever is first.
const (
	PathSessions     = "/v1/sessions"                     // POST SessionRequest (customer): Grant
	PathSession      = "/v1/sessions/{id}"                // DELETE: 204, ends the session
	PathSessionRenew = "/v1/sessions/{id}/renew"          // POST SessionRequest (Party): Grant for that party
	PathSessionJoin  = "/v1/sessions/{id}/join"           // POST SessionRequest (representative): Grant with View
	PathSessionShow  = "/v1/sessions/{id}/show-my-screen" // POST SessionRequest: the customer's Grant with View

	// Admin token (operators): connected clients from the relays'
	// accounting in the node heartbeats.
	PathClients = "/v1/clients" // GET [?node=NAME]: Clients
)

// Session parties.
const (
	PartyCustomer       = "customer"
	PartyRepresentative = "representative"
)

// SessionRequest is the body of every session POST; every field is
// optional and an empty body is allowed.
type SessionRequest struct {
	// Address is the party's address. Default: the request's source
	// address. A portal that brokers sessions for its users sets it; the
	// client token makes the caller trusted to say so.
	Address string `json:"address,omitempty"`
	// Offset is the party's UTC offset, "+02:00", for the timezone method.
	Offset string `json:"offset,omitempty"`
	// Party names who renews (renew only): PartyCustomer (default) or
	// PartyRepresentative.
	Party string `json:"party,omitempty"`
}

// Grant answers a session request: where one party publishes its stream
// and, once known, where it receives the other party's.
type Grant struct {
	ID    string `json:"id"`
	Party string `json:"party"`
	// TTL is how long the session lives without a request; renew well
	// within it.
	TTL Duration `json:"ttl"`
	// Expires is the session's end at the latest; the TURN credentials
	// are valid until then.
	Expires time.Time `json:"expires"`
	// Home is this party's home node: it publishes its stream there.
	Home Relay `json:"home"`
	// View is the other party's home node, where this party receives the
	// other's stream: the customer's for a representative that joined, the
	// representative's for a customer after show-my-screen.
	View *Relay `json:"view,omitempty"`
	// Moved is set when the party's previous home node left (down, drained
	// or no longer accepting) and Home is a new one.
	Moved bool `json:"moved,omitempty"`
}

// Relay is one TURN relay a party uses, with its credential.
type Relay struct {
	// Node is the home node's name; "" under the anycast method.
	Node string `json:"node,omitempty"`
	// Host is the node's canonical hostname (without the final dot), or
	// the site's anycast address under the anycast method.
	Host string `json:"host"`
	// Addresses are the node's public addresses, for clients that cannot
	// resolve Host.
	Addresses []netip.Addr `json:"addresses,omitempty"`
	// URIs are the TURN URIs of RFC 7065: turn: over UDP and TCP, turns:
	// when the relays serve TLS.
	URIs []string `json:"uris"`
	// Username and Password are a TURN REST credential (coturn's
	// use-auth-secret) for the user "SESSIONID/PARTY".
	Username string    `json:"username"`
	Password string    `json:"password"`
	Expires  time.Time `json:"expires"`
}

// RelayUser is one relay user's live allocations, as a node agent reports
// them in Heartbeat.RelayUsers (from relay.Stats().Live, summed per User).
// Session parties are the users "SESSIONID/PARTY".
type RelayUser struct {
	User            string    `json:"user"`
	Allocations     int       `json:"allocations"`
	Since           time.Time `json:"since"` // start of the oldest live allocation
	ToPeerBytes     uint64    `json:"to_peer_bytes"`
	ToPeerPackets   uint64    `json:"to_peer_packets"`
	ToClientBytes   uint64    `json:"to_client_bytes"`
	ToClientPackets uint64    `json:"to_client_packets"`
}

// Clients is the connected-clients report (the appliance's
// get_connected_clients): per node and per session.
type Clients struct {
	Nodes    []NodeClients    `json:"nodes"`
	Sessions []SessionClients `json:"sessions"`
}

// NodeClients are the relay users connected to one node, from its last
// heartbeat (none when it sent none within the heartbeat TTL).
type NodeClients struct {
	Node          string      `json:"node"`
	LastHeartbeat time.Time   `json:"last_heartbeat"`
	Allocations   int         `json:"allocations"`
	Users         []RelayUser `json:"users"`
}

// SessionClients are one session's connected parties.
type SessionClients struct {
	ID string `json:"id"`
	// Active is false when the session ended in the broker while its
	// parties still hold allocations.
	Active  bool          `json:"active"`
	Parties []PartyClient `json:"parties"`
}

// PartyClient is one party's allocations on one node.
type PartyClient struct {
	Party         string `json:"party"`
	Node          string `json:"node"`
	Allocations   int    `json:"allocations"`
	ToPeerBytes   uint64 `json:"to_peer_bytes"`
	ToClientBytes uint64 `json:"to_client_bytes"`
}

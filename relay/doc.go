// Package relay is Meridian's TURN relay: a pion/turn server with
// ephemeral TURN REST credentials derived from the site's PSK, a peer
// filter that keeps the node and private networks out of reach, quotas,
// bandwidth caps, drain, and per-allocation accounting.
//
// pion handles the TURN control plane (Allocate, Refresh, CreatePermission,
// ChannelBind). Meridian wraps the sockets pion reads and writes:
//
//   - the listener wrappers see every request first, verify credentials,
//     answer refused Allocate requests themselves (300 Try Alternate,
//     486 Allocation Quota Reached, 508 Insufficient Capacity) because
//     pion v2 has no hook for those codes, and forward ChannelData of
//     bound channels straight to the relayed socket;
//   - the relayed socket wrappers filter every send by peer address and
//     port, enforce the bandwidth caps, count bytes and packets, and frame
//     peer data of bound channels straight back to the client.
//
// Each listener (the UDP sockets, TCP, TLS) runs its own pion server, so
// Update can move one listener without touching the others' allocations;
// limits and peer rules are read per request and change in place.
// abuse.go holds the limits against floods: TCP and TLS connections wait
// for their first bytes without a buffer or a pion goroutine and must
// allocate within AuthTimeout, MaxConnsPerSource caps each address, a
// client that stops reading is disconnected when a write times out, and
// refusals are logged as per-reason summaries.
//
// The pion server is reached only from pion.go and the pion client only
// from probe.go, so moving to a newer pion major changes those two files
// (and the STUN parsing in control.go, which uses pion/stun).
//
// The relay secret is text: cluster.RelaySecret(psk) is the hex of the PSK's relay key,
// so coturn tools take it as is (turnutils_uclient -W, static-auth-secret).
// Credentials follow coturn's use-auth-secret scheme; see Credential.
//
// Accounting directions: "to peer" is what clients send through the relay
// (api.RelayStats.BytesIn), "to client" what peers send back (BytesOut).
package relay

// Package client talks to a Meridian director: Subscriber keeps the
// newest verified snapshot of a site for node agents, DNS servers and
// backup directors (PSK-authenticated long-poll with a last-known-good cache
// on disk), and Admin is the operator client behind `meridian ctl`.
//
// Neither logs nor returns the PSK or the admin token: errors carry the
// director's message, a status and the request path, never a header.
package client

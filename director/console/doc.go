// Package console is the director's operator console: server-rendered HTML
// pages on the director's API address (overview, nodes, config, sync,
// clients, explain, audit) with live updates.
//
// The console holds no state of the site and no admin token of its own.
// Every read and every change goes through the director's admin API
// handler in-process, with the api/client.Admin client that `meridian
// ctl` uses and the token the operator logged in with, so the console and
// ctl cannot disagree and the admin API's own checks (the constant-time
// token comparison, validation, compare-and-swap) apply to both.
//
// Security: a login form takes the admin token, which the admin API
// checks; the console then keeps it in a bounded server-side session table
// behind an HttpOnly, SameSite=Strict cookie (Secure under TLS) that
// expires. Every POST carries a CSRF token; every answer carries a
// Content-Security-Policy of default-src 'self' (no inline script or
// style) and X-Frame-Options DENY. The token never appears in a URL or a
// page.
//
// Live: an event stream (server-sent events) announces every snapshot
// version the director publishes, and the page script refreshes the
// parts of the page marked live.
package console

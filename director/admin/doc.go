// Package admin is the director's HTTP API: the admin API of `meridian
// ctl` (status, config changes with their history and rollback, drain,
// BGP withdraw, sync now, explain, and the audit of every action) and the
// routes that mount the subscribers' sync and the session broker beside
// it.
package admin

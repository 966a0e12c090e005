// Package store is the director's etcd layer: the embedded member or the
// connection to an external cluster, the layout of a site's keys, the
// records stored under them, and the compare-and-swap writes of config
// versions and run-time states. Everything above it reads and writes the
// site through a *Site.
package store

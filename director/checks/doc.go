// Package checks is the director's leadership and health checking: the
// directors of a site elect one leader through etcd, and only the leader
// probes the site's nodes and masters and stores their health, which the
// publisher then carries in the next snapshot.
package checks

// Package checks is the director's leadership and health checking: the
// directors of a site elect one leader through etcd, and only the leader
// probes the site's nodes and stores their health; every director probes
// the masters and stores the changes it sees. The publisher carries the
// health in the next snapshot.
package checks

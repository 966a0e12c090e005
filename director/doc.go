// Package director is Meridian's control plane: it keeps one site in etcd
// (a member embedded in the director by default, or an external cluster),
// health-checks the site's nodes and masters from the director elected
// leader, publishes signed snapshots to subscribers over the sync
// long-poll, and serves the admin API of `meridian ctl`.
//
// A snapshot's version is the etcd revision of the newest change to the
// keys it is built from, and it is built deterministically from them, so
// every director of a site serves the same signed bytes for a version.
// Every director watches the store and republishes on change; only the
// leader probes and writes health states.
//
// The control path runs through the subpackages, each importing only
// those before it: store (etcd, keys, records, config versions), web
// (HTTP answers and request auth), publish (snapshots, sync, subscribers),
// checks (election, health checks), broker (sessions) and admin (the
// admin API and the route table). Director composes them.
//
//	d, err := director.New(director.Config{Name: "m1", Etcd: director.EtcdConfig{DataDir: dir}, ...})
//	go d.Run(ctx)
//	<-d.Ready()
//	url := "http://" + d.Addr()
package director

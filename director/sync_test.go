package director

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/internal/testkit"
)

// TestSyncLongPoll: a poll behind the current version answers at once, a
// poll at it waits and returns the version an apply publishes, and a poll
// that sees nothing new ends with 204.
func TestSyncLongPoll(t *testing.T) {
	v1 := siteDown(t, 2)
	h := startDirector(t, Config{SiteData: []byte(v1)})
	first := h.current()
	if first.Site != testSite || first.ConfigVersion != 1 || len(first.Nodes) != 2 || first.Nodes[0].Name != "a" {
		t.Fatalf("first snapshot: site %q config %d nodes %+v", first.Site, first.ConfigVersion, first.Nodes)
	}

	type result struct {
		code int
		snap *cluster.Snapshot
		took time.Duration
	}
	// Wait until health verdicts settle so that only the apply publishes.
	testkit.Eventually(t, 10*time.Second, "nodes probed down", func() bool {
		s := h.current()
		return s.Node("a").Health == cluster.Down && s.Node("b").Health == cluster.Down && s.Master("m1").Health == cluster.Down
	})
	held := h.current().Version
	got := make(chan result, 1)
	go func() {
		start := time.Now()
		code, s := h.sync(held, "a", api.KindNode, 20*time.Second)
		got <- result{code, s, time.Since(start)}
	}()
	testkit.Eventually(t, 5*time.Second, "poll waiting", func() bool {
		s, ok := h.d.pub.Subscriber("a")
		return ok && s.Version == held
	})
	time.Sleep(100 * time.Millisecond) // the poll is parked, not answered
	select {
	case r := <-got:
		t.Fatalf("poll answered before any change: %d", r.code)
	default:
	}
	var res api.ChangeResult
	h.adminJSON(http.MethodPost, api.PathConfig, []byte(strings.Replace(v1, "weight: 100", "weight: 50", 1)), &res)
	select {
	case r := <-got:
		if r.code != http.StatusOK || r.snap.Version != res.Version || r.snap.ConfigVersion != 2 || r.snap.Config.Nodes[0].Weight != 50 {
			t.Fatalf("poll got %d version %v, want version %d config 2", r.code, r.snap, res.Version)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("poll not answered within 10s of the apply")
	}

	tests := []struct {
		name  string
		after uint64
		wait  time.Duration
		want  int
	}{
		{"newer than held: at once", 1, 10 * time.Second, http.StatusOK},
		{"nothing newer: 204 after the wait", 1 << 40, 300 * time.Millisecond, http.StatusNoContent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			code, _ := h.sync(tt.after, "dns/x", api.KindDNS, tt.wait)
			if code != tt.want {
				t.Errorf("status %d, want %d", code, tt.want)
			}
			if took := time.Since(start); took > tt.wait+2*time.Second {
				t.Errorf("took %s with wait %s", took, tt.wait)
			}
		})
	}

	bad := []struct{ name, pathQuery string }{
		{"no subscriber", api.PathSync + "?after=0&kind=dns"},
		{"bad kind", api.PathSync + "?after=0&kind=cat&subscriber=x"},
		{"bad after", api.PathSync + "?after=-1&kind=dns&subscriber=x"},
		{"bad wait", api.PathSync + "?after=0&kind=dns&subscriber=x&wait=soon"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if code, _ := h.do(h.signed(http.MethodGet, tt.pathQuery, nil, time.Now(), nonce(), h.psk)); code != http.StatusBadRequest {
				t.Errorf("status %d, want 400", code)
			}
		})
	}
}

// TestRemoveNode drops a node from the site file, keeping the comments of
// the rest; its agent gets 410 on sync and heartbeat, the others do not.
func TestRemoveNode(t *testing.T) {
	v1 := testkit.SiteYAML(testkit.FreeAddr(t), testkit.FreeAddr(t), testkit.FreeAddr(t), testkit.FreeAddr(t))
	h := startDirector(t, Config{SiteData: []byte(v1)})
	if code, _ := h.sync(0, "b", api.KindNode, time.Second); code != http.StatusOK {
		t.Fatalf("node b before removal: %d", code)
	}
	var res api.ChangeResult
	h.adminJSON(http.MethodDelete, "/v1/nodes/b", nil, &res, api.HeaderAuthor, "bob")
	if res.ConfigVersion != 2 {
		t.Errorf("remove: config version %d, want 2", res.ConfigVersion)
	}
	_, text := h.admin(http.MethodGet, api.PathConfig, nil)
	for _, want := range []string{"# Test site for the director.", "# node a", "# node c", "name: c"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("site file after removal lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(string(text), "name: b") {
		t.Errorf("node b still in the site file:\n%s", text)
	}

	hb, _ := json.Marshal(api.Heartbeat{Node: "b"})
	tests := []struct {
		name string
		req  *http.Request
		want int
	}{
		{"removed node sync", h.signed(http.MethodGet, syncPath(0, "b", api.KindNode, time.Second), nil, time.Now(), nonce(), h.psk), http.StatusGone},
		{"removed node heartbeat", h.signed(http.MethodPost, api.PathHeartbeat, hb, time.Now(), nonce(), h.psk), http.StatusGone},
		{"other node sync", h.signed(http.MethodGet, syncPath(0, "c", api.KindNode, time.Second), nil, time.Now(), nonce(), h.psk), http.StatusOK},
		{"dns subscriber named b", h.signed(http.MethodGet, syncPath(0, "b", api.KindDNS, time.Second), nil, time.Now(), nonce(), h.psk), http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code, body := h.do(tt.req); code != tt.want {
				t.Errorf("status %d, want %d: %s", code, tt.want, body)
			}
		})
	}
	if code, _ := h.admin(http.MethodDelete, "/v1/nodes/zz", nil); code != http.StatusNotFound {
		t.Errorf("remove unknown node: %d, want 404", code)
	}
}

// TestDrainAndHeartbeat: drain and undrain show in the snapshot without a
// config version; a heartbeat's announced prefixes reach the node state.
func TestDrainAndHeartbeat(t *testing.T) {
	h := startDirector(t, Config{SiteData: []byte(siteDown(t, 2))})
	steps := []struct {
		path    string
		drained bool
	}{
		{"/v1/nodes/a/drain", true},
		{"/v1/nodes/a/drain", true}, // again: no change
		{"/v1/nodes/a/undrain", false},
	}
	for _, st := range steps {
		var res api.ChangeResult
		h.adminJSON(http.MethodPost, st.path, nil, &res)
		s := h.current()
		if s.Node("a").Drained != st.drained || s.Version < res.Version || s.ConfigVersion != 1 {
			t.Errorf("%s: drained %v version %d config %d, want drained %v version >= %d config 1",
				st.path, s.Node("a").Drained, s.Version, s.ConfigVersion, st.drained, res.Version)
		}
		if !s.Config.Node("a").Accepting {
			t.Errorf("%s changed the config's accepting switch", st.path)
		}
	}
	if code, _ := h.admin(http.MethodPost, "/v1/nodes/nope/drain", nil); code != http.StatusNotFound {
		t.Errorf("drain unknown node: %d, want 404", code)
	}

	any := []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("198.51.100.0/24")}
	hb, _ := json.Marshal(api.Heartbeat{Node: "b", Version: 3, Load: 0.5, Announcing: any})
	if code, body := h.do(h.signed(http.MethodPost, api.PathHeartbeat, hb, time.Now(), nonce(), h.psk)); code != http.StatusNoContent {
		t.Fatalf("heartbeat: %d %s", code, body)
	}
	want := slices.Clone(any)
	slices.SortFunc(want, func(a, b netip.Prefix) int { return a.Compare(b) })
	testkit.Eventually(t, 5*time.Second, "announcing in the snapshot", func() bool {
		return slices.Equal(h.current().Node("b").Announcing, want)
	})
	for _, bad := range [][]byte{[]byte(`{"node":""}`), []byte(`{"node":`)} {
		if code, _ := h.do(h.signed(http.MethodPost, api.PathHeartbeat, bad, time.Now(), nonce(), h.psk)); code != http.StatusBadRequest {
			t.Errorf("heartbeat %s: %d, want 400", bad, code)
		}
	}
	var nodes []api.NodeStatus
	h.adminJSON(http.MethodGet, api.PathNodes, nil, &nodes)
	if len(nodes) != 2 || nodes[1].Heartbeat == nil || nodes[1].Heartbeat.Load != 0.5 || nodes[1].LastHeartbeat.IsZero() {
		t.Errorf("nodes: %+v", nodes)
	}
}

// TestSyncNow follows subscribers through "sync now": two that keep
// polling finish, one that reports a failure fails, one that stopped
// polling fails for not acknowledging; the history keeps the events.
func TestSyncNow(t *testing.T) {
	h := startDirector(t, Config{SiteData: []byte(siteDown(t, 2))})
	// Let health verdicts settle so that only "sync now" publishes.
	testkit.Eventually(t, 10*time.Second, "nodes probed down", func() bool {
		s := h.current()
		return s.Node("a").Health == cluster.Down && s.Node("b").Health == cluster.Down && s.Master("m1").Health == cluster.Down
	})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	poller := func(id string, failReason string) {
		defer wg.Done()
		var held uint64
		failed := ""
		for {
			select {
			case <-stop:
				return
			default:
			}
			extra := []string{}
			if failed != "" {
				extra = []string{"failed", failed}
			}
			code, s := h.sync(held, id, api.KindDNS, 2*time.Second, extra...)
			if failed != "" {
				<-stop // reported once; a broken subscriber stays behind
				return
			}
			if code == http.StatusOK {
				if failReason != "" && held != 0 {
					failed = failReason // refuse the new version and say why
					continue
				}
				held = s.Version
			}
		}
	}
	wg.Add(2)
	go poller("dns/ok1", "")
	go poller("dns/ok2", "")
	wg.Add(1)
	go poller("dns/broken", "disk full")
	// A subscriber seen once that does not come back.
	h.sync(0, "dns/gone", api.KindDNS, time.Second)
	testkit.Eventually(t, 5*time.Second, "pollers registered", func() bool {
		for _, id := range []string{"dns/ok1", "dns/ok2", "dns/broken"} {
			if s, ok := h.d.pub.Subscriber(id); !ok || s.Version == 0 {
				return false
			}
		}
		return true
	})

	var rep api.SyncReport
	h.adminJSON(http.MethodPost, api.PathSyncNow+"?timeout=3s", nil, &rep, api.HeaderAuthor, "carol")
	close(stop)
	wg.Wait()
	final := map[string]api.SyncEvent{}
	started := map[string]bool{}
	for _, e := range rep.Events {
		if e.Version != rep.Version {
			t.Errorf("event %+v: version %d, want %d", e, e.Version, rep.Version)
		}
		if e.Event == "started" {
			started[e.Subscriber] = true
		} else {
			final[e.Subscriber] = e
		}
	}
	tests := []struct {
		id, event, reason string
		started           bool
	}{
		{"dns/ok1", "finished", "", true},
		{"dns/ok2", "finished", "", true},
		{"dns/broken", "failed", "disk full", true},
		{"dns/gone", "failed", "not sent within", false},
	}
	for _, tt := range tests {
		e := final[tt.id]
		if e.Event != tt.event || !strings.Contains(e.Reason, tt.reason) || started[tt.id] != tt.started {
			t.Errorf("%s: %+v started %v, want %s %q started %v", tt.id, e, started[tt.id], tt.event, tt.reason, tt.started)
		}
		if tt.event == "finished" && (e.Duration <= 0 || e.Duration.D() > 3*time.Second) {
			t.Errorf("%s: duration %s", tt.id, e.Duration.D())
		}
	}
	var hist []api.SyncEvent
	h.adminJSON(http.MethodGet, api.PathSyncHistory, nil, &hist)
	if len(hist) != len(rep.Events) {
		t.Errorf("history has %d events, report %d", len(hist), len(rep.Events))
	}
}

// TestHistoryBounded keeps only the newest HistoryLimit events.
func TestHistoryBounded(t *testing.T) {
	h := startDirector(t, Config{HistoryLimit: 5, SiteData: []byte(siteDown(t, 1))})
	ctx := t.Context()
	base := time.Now()
	for i := range 4 {
		ev := []api.SyncEvent{
			{Time: base.Add(time.Duration(2*i) * time.Second), Subscriber: "x", Event: "started", Version: uint64(i)},
			{Time: base.Add(time.Duration(2*i+1) * time.Second), Subscriber: "x", Event: "finished", Version: uint64(i)},
		}
		if err := h.d.pub.AppendHistory(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	hist, err := h.d.pub.SyncHistory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 5 || hist[0].Version != 3 || hist[0].Event != "finished" || hist[4].Version != 1 || hist[4].Event != "finished" {
		t.Errorf("history: %+v", hist)
	}
}

// TestHeartbeatExpires: a node's last heartbeat goes away with its lease.
func TestHeartbeatExpires(t *testing.T) {
	h := startDirector(t, Config{HeartbeatTTL: 2 * time.Second, SiteData: []byte(siteDown(t, 1))})
	hb, _ := json.Marshal(api.Heartbeat{Node: "a", Version: 1})
	if code, body := h.do(h.signed(http.MethodPost, api.PathHeartbeat, hb, time.Now(), nonce(), h.psk)); code != http.StatusNoContent {
		t.Fatalf("heartbeat: %d %s", code, body)
	}
	beat := func() *api.Heartbeat {
		var nodes []api.NodeStatus
		h.adminJSON(http.MethodGet, api.PathNodes, nil, &nodes)
		return nodes[0].Heartbeat
	}
	if beat() == nil {
		t.Fatal("heartbeat not stored")
	}
	testkit.Eventually(t, 10*time.Second, "heartbeat expired", func() bool { return beat() == nil })
}

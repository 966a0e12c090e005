package director

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/cluster"
)

const bobToken = "admin-token-of-bob-3c4d5e6f"

// adminAs sends an admin request with token.
func (h *harness) adminAs(token, method, pathQuery string, body []byte, hdr ...string) (int, []byte) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.base+pathQuery, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return h.do(req)
}

// audit reads the whole audit, newest first.
func (h *harness) audit() []api.AuditEntry {
	h.t.Helper()
	var es []api.AuditEntry
	h.adminJSON(http.MethodGet, api.PathAudit+"?limit=1000", nil, &es)
	return es
}

// TestAudit: every operational action, done or refused, leaves exactly one
// audit entry naming the operator of the token, whatever author header the
// request carries; the history's author is that name too.
func TestAudit(t *testing.T) {
	site := siteDown(t, 2)
	h := startDirector(t, Config{SiteData: []byte(site),
		AdminTokens: []cluster.NamedToken{{Name: "alice", Token: testToken}, {Name: "bob", Token: bobToken}}})
	v2 := strings.Replace(site, "weight: 100", "weight: 40", 1)
	bad := strings.Replace(site, "weight: 100", "weight: heavy", 1)
	reason := func(r string) []string { return []string{api.HeaderReason, r, api.HeaderAuthor, "mallory"} }

	steps := []struct {
		name    string
		token   string
		method  string
		path    string
		body    string
		hdr     []string
		code    int
		want    api.AuditEntry // Time and Version checked apart
		version bool           // a version is expected
	}{
		{"apply", testToken, http.MethodPost, api.PathConfig, v2, append(reason("lower weight"), api.HeaderFile, "zones/t.yaml"), 200,
			api.AuditEntry{Who: "alice", Action: api.AuditApply, Target: "zones/t.yaml", Reason: "lower weight", Result: "ok"}, true},
		{"apply refused", "bob", http.MethodPost, api.PathConfig, bad, []string{api.HeaderFile, "bad.yaml"}, 400,
			api.AuditEntry{Who: "bob", Action: api.AuditApply, Target: "bad.yaml", Result: "1 problem in the site file, first bad.yaml:"}, false},
		{"rollback", "bob", http.MethodPost, api.PathRollback + "?version=1", "", reason("undo"), 200,
			api.AuditEntry{Who: "bob", Action: api.AuditRollback, Target: "1", Reason: "undo", Result: "ok"}, true},
		{"rollback bad", testToken, http.MethodPost, api.PathRollback + "?version=x", "", nil, 400,
			api.AuditEntry{Who: "alice", Action: api.AuditRollback, Target: "x", Result: "version: want a config version number"}, false},
		{"rollback unknown", testToken, http.MethodPost, api.PathRollback + "?version=99", "", nil, 404,
			api.AuditEntry{Who: "alice", Action: api.AuditRollback, Target: "99", Result: "config version 99: no such config version"}, false},
		{"drain", testToken, http.MethodPost, "/v1/nodes/a/drain", "", reason("kernel\tupdate  "), 200,
			api.AuditEntry{Who: "alice", Action: api.AuditDrain, Target: "a", Reason: "kernel update", Result: "ok"}, true},
		{"drain again", testToken, http.MethodPost, "/v1/nodes/a/drain", "", nil, 200,
			api.AuditEntry{Who: "alice", Action: api.AuditDrain, Target: "a", Result: "ok"}, true},
		{"drain unknown", "bob", http.MethodPost, "/v1/nodes/nope/drain", "", nil, 404,
			api.AuditEntry{Who: "bob", Action: api.AuditDrain, Target: "nope", Result: `node "nope": no such node`}, false},
		{"undrain", "bob", http.MethodPost, "/v1/nodes/a/undrain", "", nil, 200,
			api.AuditEntry{Who: "bob", Action: api.AuditUndrain, Target: "a", Result: "ok"}, true},
		{"bgp withdraw", "bob", http.MethodPost, "/v1/nodes/a/bgp/withdraw", `{"reason":"uplink maintenance"}`, nil, 200,
			api.AuditEntry{Who: "bob", Action: api.AuditBGPWithdraw, Target: "a", Reason: "uplink maintenance", Result: "ok"}, true},
		{"bgp withdraw bad body", "bob", http.MethodPost, "/v1/nodes/a/bgp/withdraw", `{`, nil, 400,
			api.AuditEntry{Who: "bob", Action: api.AuditBGPWithdraw, Target: "a", Result: "bgp withdraw: body: want"}, false},
		{"bgp resume", testToken, http.MethodPost, "/v1/nodes/a/bgp/resume", "", reason("done"), 200,
			api.AuditEntry{Who: "alice", Action: api.AuditBGPResume, Target: "a", Reason: "done", Result: "ok"}, true},
		{"sync now", testToken, http.MethodPost, api.PathSyncNow + "?timeout=1s", "", reason("check"), 200,
			api.AuditEntry{Who: "alice", Action: api.AuditSyncNow, Reason: "check", Result: "ok"}, true},
		{"sync now bad", testToken, http.MethodPost, api.PathSyncNow + "?timeout=2h", "", nil, 400,
			api.AuditEntry{Who: "alice", Action: api.AuditSyncNow, Result: "timeout: want a duration up to 1m"}, false},
		{"node remove", "bob", http.MethodDelete, "/v1/nodes/b", "", reason("decommissioned"), 200,
			api.AuditEntry{Who: "bob", Action: api.AuditRemove, Target: "b", Reason: "decommissioned", Result: "ok"}, true},
		{"node remove unknown", "bob", http.MethodDelete, "/v1/nodes/b", "", nil, 404,
			api.AuditEntry{Who: "bob", Action: api.AuditRemove, Target: "b", Result: `node "b": no such node`}, false},
	}
	before := len(h.audit())
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			tok := st.token
			if tok == "bob" {
				tok = bobToken
			}
			start := time.Now()
			code, body := h.adminAs(tok, st.method, st.path, []byte(st.body), st.hdr...)
			if code != st.code {
				t.Fatalf("status %d, want %d: %s", code, st.code, body)
			}
			es := h.audit()
			if len(es) != before+1 {
				t.Fatalf("audit has %d entries after the action, want %d: %+v", len(es), before+1, es)
			}
			before = len(es)
			got := es[0]
			if got.Who != st.want.Who || got.Action != st.want.Action || got.Target != st.want.Target || got.Reason != st.want.Reason ||
				!strings.HasPrefix(got.Result, st.want.Result) || (st.want.Result == "ok") != (got.Result == "ok") {
				t.Errorf("entry %+v, want %+v", got, st.want)
			}
			if got.Time.Before(start.Add(-time.Second)) || got.Time.After(time.Now().Add(time.Second)) {
				t.Errorf("entry time %v, want about %v", got.Time, start)
			}
			if st.version {
				var res api.ChangeResult
				json.Unmarshal(body, &res)
				want := res.Version
				if st.want.Action == api.AuditApply || st.want.Action == api.AuditRollback {
					want = res.ConfigVersion
				}
				if st.want.Action == api.AuditSyncNow {
					var rep api.SyncReport
					json.Unmarshal(body, &rep)
					want = rep.Version
				}
				if got.Version == 0 || got.Version != want {
					t.Errorf("entry version %d, want %d (answer %s)", got.Version, want, body)
				}
			} else if got.Version != 0 {
				t.Errorf("refused action with version %d", got.Version)
			}
		})
	}

	// The history names the operator of the token, not the header.
	var hist []api.ConfigVersion
	h.adminJSON(http.MethodGet, api.PathHistory, nil, &hist)
	if len(hist) != 4 || hist[0].Author != "bob" || hist[1].Author != "bob" || hist[2].Author != "alice" {
		t.Errorf("history authors: %+v", hist)
	}

	// Requests refused for their token, and reads, leave no entry.
	if code, _ := h.adminAs(testToken+"-wrong", http.MethodPost, "/v1/nodes/a/drain", nil); code != http.StatusUnauthorized {
		t.Errorf("wrong token: status %d", code)
	}
	h.adminJSON(http.MethodGet, api.PathStatus, nil, nil)
	if n := len(h.audit()); n != before {
		t.Errorf("audit grew from %d to %d without an operator's action", before, n)
	}
	var es []api.AuditEntry
	h.adminJSON(http.MethodGet, api.PathAudit+"?limit=2", nil, &es)
	if len(es) != 2 || es[0].Action != api.AuditRemove || !es[0].Time.After(es[1].Time) && !es[0].Time.Equal(es[1].Time) {
		t.Errorf("audit ?limit=2: %+v", es)
	}
	if code, _ := h.admin(http.MethodGet, api.PathAudit+"?limit=zero", nil); code != http.StatusBadRequest {
		t.Errorf("audit ?limit=zero: status %d", code)
	}

	for tok, name := range map[string]string{testToken: "alice", bobToken: "bob"} {
		code, body := h.adminAs(tok, http.MethodGet, api.PathWhoAmI, nil)
		var who api.WhoAmI
		if code != http.StatusOK || json.Unmarshal(body, &who) != nil || who.Name != name {
			t.Errorf("whoami of %s: %d %s", name, code, body)
		}
	}
	if code, _ := h.adminAs("nobody-knows-this-token", http.MethodGet, api.PathWhoAmI, nil); code != http.StatusUnauthorized {
		t.Errorf("whoami with a wrong token: %d", code)
	}
}

// TestAuditBounded keeps the newest AuditLimit entries.
func TestAuditBounded(t *testing.T) {
	h := startDirector(t, Config{SiteData: []byte(siteDown(t, 1)), AuditLimit: 3})
	for i := range 5 {
		path := "/v1/nodes/a/drain"
		if i%2 == 1 {
			path = "/v1/nodes/a/undrain"
		}
		h.adminJSON(http.MethodPost, path, nil, nil, api.HeaderReason, string(rune('0'+i)))
	}
	es := h.audit()
	if len(es) != 3 {
		t.Fatalf("audit keeps %d entries, want 3: %+v", len(es), es)
	}
	for i, want := range []string{"4", "3", "2"} {
		if es[i].Reason != want {
			t.Errorf("entry %d has reason %q, want %q (newest first)", i, es[i].Reason, want)
		}
	}
}

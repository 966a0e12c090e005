package topo

import (
	"strings"
	"testing"
)

func TestLoadLabTopology(t *testing.T) {
	top, err := Load("../topology.clab.yml")
	if err != nil {
		t.Fatal(err)
	}
	roles := map[string]int{}
	for _, n := range top.Nodes {
		roles[n.Role()]++
	}
	want := map[string]int{"router": 2, "node": 4, "client": 2, "director": 3, "dns": 1}
	for r, c := range want {
		if roles[r] != c {
			t.Errorf("role %s: %d nodes, want %d", r, roles[r], c)
		}
	}
	if len(top.Links) != 11 {
		t.Errorf("%d links, want 11", len(top.Links))
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"no name", "topology: {}", "name: missing"},
		{"bad node", "name: x\ntopology: {nodes: {A_B: {}}}", "lower-case"},
		{"bad bind", "name: x\ntopology: {nodes: {a: {binds: [nocolon]}}}", "HOST:/CONTAINER"},
		{"exec not ip", "name: x\ntopology: {nodes: {a: {exec: [rm -rf /]}}}", "only ip commands"},
		{"bad sysctl", "name: x\ntopology: {nodes: {a: {sysctls: {net.ipv4.ip_forward: \"1; rm\"}}}}", "plain values"},
		{"one endpoint", "name: x\ntopology: {nodes: {a: {}}, links: [{endpoints: [a:eth1]}]}", "two endpoints"},
		{"unknown node", "name: x\ntopology: {nodes: {a: {}}, links: [{endpoints: [a:eth1, b:eth1]}]}", "defined node"},
		{"twice", "name: x\ntopology: {nodes: {a: {}, b: {}}, links: [{endpoints: [a:eth1, b:eth1]}, {endpoints: [a:eth1, b:eth2]}]}", "used twice"},
		{"bad iface", "name: x\ntopology: {nodes: {a: {}, b: {}}, links: [{endpoints: [a:eth/1, b:eth1]}]}", "bad interface"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

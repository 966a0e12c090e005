package cluster

import "testing"

// TestAccepting: the one rule of "takes new clients", through both forms.
func TestAccepting(t *testing.T) {
	tests := []struct {
		name      string
		accepting bool
		st        *NodeState
		want      bool
	}{
		{"accepting, no state", true, nil, true},
		{"accepting, up", true, &NodeState{Name: "a", Health: Up}, true},
		{"accepting, down", true, &NodeState{Name: "a", Health: Down}, true}, // health is another question
		{"drained", true, &NodeState{Name: "a", Health: Up, Drained: true}, false},
		{"switched off", false, &NodeState{Name: "a", Health: Up}, false},
		{"switched off, no state", false, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := &Node{Name: "a", Accepting: tt.accepting}
			if got := Accepting(n, tt.st); got != tt.want {
				t.Errorf("Accepting = %v, want %v", got, tt.want)
			}
			snap := &Snapshot{Config: &Site{Nodes: []Node{*n}}}
			if tt.st != nil {
				snap.Nodes = []NodeState{*tt.st}
			}
			if got := snap.Accepting(n); got != tt.want {
				t.Errorf("Snapshot.Accepting = %v, want %v", got, tt.want)
			}
			if tt.st == nil {
				var none *Snapshot
				if got := none.Accepting(n); got != tt.want {
					t.Errorf("nil Snapshot.Accepting = %v, want %v", got, tt.want)
				}
			}
		})
	}
}

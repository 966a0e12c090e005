package cluster

import (
	"fmt"
	"math"
	"testing"
)

// sd is the standard deviation of a share p estimated from n samples.
func sd(p float64, n int) float64 { return math.Sqrt(p * (1 - p) / float64(n)) }

// shareTolerance is the tolerance on a node's share p: four standard
// deviations of the bucket quantisation (each of the 4096 buckets goes to
// one node) plus four of the client sampling. Four: the hashes are fixed, so
// a pass is deterministic, and 4σ leaves room for any honest hash.
func shareTolerance(p float64, clients int) float64 {
	return 4 * (sd(p, rendezvousBuckets) + sd(p, clients))
}

const stickyClients = 100_000

// TestRendezvousStickiness removes one of N nodes: no client of another
// node may move, and the clients that move are about 1/N of all.
func TestRendezvousStickiness(t *testing.T) {
	// 5 nodes score per query, 10 and 100 use precomputed tables.
	for _, n := range []int{5, 10, 100} {
		t.Run(fmt.Sprintf("%d nodes", n), func(t *testing.T) {
			var nodes []Node
			for _, name := range nodeNames(n) {
				nodes = append(nodes, tnode(name))
			}
			site := tsite(MethodRandom, 1, nodes...)
			before := NewEngine(tsnap(site), nil)
			gone := nodeNames(n)[n/2]
			after := NewEngine(tsnap(site, down(gone)), nil)
			var d1, d2 Decision
			moved := 0
			for i := 0; i < stickyClients; i++ {
				qu := Query{Client: clientAddr(i), SourceBits: 32}
				before.Select(qu, &d1)
				after.Select(qu, &d2)
				if d1.Nodes[0].Name == gone {
					moved++
					continue
				}
				if d1.Nodes[0].Name != d2.Nodes[0].Name {
					t.Fatalf("client %s moved from %s to %s though only %s left", qu.Client, d1.Nodes[0].Name, d2.Nodes[0].Name, gone)
				}
			}
			share, want := float64(moved)/stickyClients, 1/float64(n)
			tol := shareTolerance(want, stickyClients)
			if math.Abs(share-want) > tol {
				t.Errorf("moved share %.4f, want %.4f ± %.4f", share, want, tol)
			}
			t.Logf("moved share %.4f, want %.4f ± %.4f", share, want, tol)
		})
	}
}

// TestRendezvousWeights triples one node's weight: shares follow the
// weights, and the only clients that move are those that move to it.
func TestRendezvousWeights(t *testing.T) {
	for _, n := range []int{5, 20} {
		t.Run(fmt.Sprintf("%d nodes", n), func(t *testing.T) {
			var nodes []Node
			for _, name := range nodeNames(n) {
				nodes = append(nodes, tnode(name))
			}
			before := NewEngine(tsnap(tsite(MethodRandom, 1, nodes...)), nil)
			heavy := append([]Node(nil), nodes...)
			heavy[0].Weight = 300
			after := NewEngine(tsnap(tsite(MethodRandom, 1, heavy...)), nil)
			count := map[string]int{}
			var d1, d2 Decision
			for i := 0; i < stickyClients; i++ {
				qu := Query{Client: clientAddr(i), SourceBits: 32}
				before.Select(qu, &d1)
				after.Select(qu, &d2)
				count[d2.Nodes[0].Name]++
				if d1.Nodes[0].Name != d2.Nodes[0].Name && d2.Nodes[0].Name != "n0" {
					t.Fatalf("client %s moved from %s to %s; only moves to n0 are expected", qu.Client, d1.Nodes[0].Name, d2.Nodes[0].Name)
				}
			}
			total := float64(300 + 100*(n-1))
			for _, name := range nodeNames(n) {
				want := 100 / total
				if name == "n0" {
					want = 300 / total
				}
				share := float64(count[name]) / stickyClients
				tol := shareTolerance(want, stickyClients)
				if math.Abs(share-want) > tol {
					t.Errorf("%s share %.4f, want %.4f ± %.4f", name, share, want, tol)
				}
				if name == "n0" || name == "n1" {
					t.Logf("%s share %.4f, want %.4f ± %.4f", name, share, want, tol)
				}
			}
		})
	}
}

// TestGroupTableMatchesScores checks that a precomputed table ranks exactly
// as scoring every member would.
func TestGroupTableMatchesScores(t *testing.T) {
	var members []member
	for i := 0; i < 30; i++ {
		members = append(members, member{node: int32(i), seed: nodeSeed(fmt.Sprint("node", i)), weight: float64(1 + i%7)})
	}
	tab := newGroup(members, 3)
	plain := group{members: members}
	if tab.table == nil {
		t.Fatal("no table for a 30-member group")
	}
	for b := uint32(0); b < rendezvousBuckets; b++ {
		var x, y topK
		x.reset(3)
		y.reset(3)
		tab.feed(b, &x)
		plain.feed(b, &y)
		if x.e != y.e || x.n != y.n {
			t.Fatalf("bucket %d: table %v, scores %v", b, x.e[:x.n], y.e[:y.n])
		}
	}
}

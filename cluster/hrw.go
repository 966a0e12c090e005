package cluster

import (
	"math"
	"net/netip"
)

// Weighted rendezvous (highest random weight) hashing over hash buckets.
//
// A client key (its /24 or /56) maps to one of rendezvousBuckets buckets;
// each bucket ranks the nodes of a group by the weighted rendezvous score
// -w/ln(u), u a hash of (node, bucket) in (0,1). A node's expected share of
// buckets is its weight over the group's total, and removing a node changes
// only the buckets it won: rendezvous hashing per bucket, so the stickiness
// of plain HRW holds. Hashing buckets instead of keys lets large groups
// precompute every bucket's ranking once per snapshot.

// rendezvousBuckets is the number of buckets. 4096 keeps the share a node
// gets within a few percent of its weight for groups of up to ~100 nodes
// (about 40 buckets per node at 100) while a 1,000-node table still builds
// in tens of milliseconds. A power of two so the bucket is a mask.
const rendezvousBuckets = 4096

// tableMinMembers is the smallest group that gets a precomputed table.
// Smaller groups score their members per query: eight scores cost about as
// much as a table lookup's cache misses and need no memory.
const tableMinMembers = 9

// member is one node of a group, with what its score needs.
type member struct {
	node   int32   // index into Engine.nodes
	seed   uint64  // hash of the node's stable id
	weight float64 // the node's weight
}

// ranked is a node and its score in one bucket.
type ranked struct {
	node  int32
	score float64
}

// group is a set of nodes chosen among by rendezvous hashing.
type group struct {
	members []member
	k       int      // entries per bucket in table
	table   []ranked // rendezvousBuckets*k best members per bucket, best first; nil for small groups
}

// newGroup makes a group; groups of tableMinMembers or more get a table of
// their best k members per bucket (k: the most answers a decision needs).
func newGroup(members []member, k int) group {
	g := group{members: members}
	if len(members) < tableMinMembers {
		return g
	}
	g.k = min(k, len(members))
	g.table = make([]ranked, rendezvousBuckets*g.k)
	var acc topK
	for b := uint32(0); b < rendezvousBuckets; b++ {
		acc.reset(g.k)
		for _, m := range members {
			acc.add(m.node, score(m.seed, m.weight, b))
		}
		copy(g.table[int(b)*g.k:], acc.e[:acc.n])
	}
	return g
}

// feed offers the group's members for bucket b to acc. A table holds only
// the k best of each bucket; that is enough because acc never keeps more
// than k new nodes (callers size acc by the same answer count).
func (g *group) feed(b uint32, acc *topK) {
	if g.table != nil {
		for _, r := range g.table[int(b)*g.k : int(b+1)*g.k] {
			acc.add(r.node, r.score)
		}
		return
	}
	for _, m := range g.members {
		acc.add(m.node, score(m.seed, m.weight, b))
	}
}

// score is the weighted rendezvous score of a node in a bucket: -w/ln(u)
// with u uniform in (0,1) (Schindelhauer and Schomaker's weighted
// distributed hash tables): the node with the highest score wins, and a
// node wins with probability w/sum(w).
func score(seed uint64, w float64, b uint32) float64 {
	h := mix64(seed ^ (uint64(b)+1)*0x9e3779b97f4a7c15)
	// The top 53 bits plus one half lie strictly inside (0,1), so the log
	// is finite and negative.
	u := (float64(h>>11) + 0.5) / (1 << 53)
	return -w / math.Log(u)
}

// mix64 is the splitmix64 finaliser: a fast bijective mixer whose output
// bits all depend on every input bit.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// nodeSeed hashes a node's stable id (FNV-1a, then mixed), so a node keeps
// its buckets across snapshots and config reorderings.
func nodeSeed(id string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	return mix64(h)
}

// Hashing key lengths: a client's /24 (IPv4) or /56 (IPv6), the networks
// one customer site typically holds, so one site sticks to one node.
const (
	keyBits4 = 24
	keyBits6 = 56
)

// keyBits returns the hashing key length of a's family.
func keyBits(a netip.Addr) int {
	if a.Is4() {
		return keyBits4
	}
	return keyBits6
}

// bucketOf maps a client address to its bucket through its key network.
// The family is mixed in so an IPv4 /24 and an IPv6 /56 with the same
// leading bytes do not share buckets by construction.
func bucketOf(a netip.Addr) uint32 {
	var k uint64
	if a.Is4() {
		b := a.As4()
		k = 4<<56 | uint64(b[0])<<16 | uint64(b[1])<<8 | uint64(b[2])
	} else {
		b := a.As16()
		k = 6<<56 | uint64(b[0])<<48 | uint64(b[1])<<40 | uint64(b[2])<<32 |
			uint64(b[3])<<24 | uint64(b[4])<<16 | uint64(b[5])<<8 | uint64(b[6])
	}
	return uint32(mix64(k) & (rendezvousBuckets - 1))
}

// topK keeps the best few ranked nodes, best first, skipping excluded ones.
type topK struct {
	e    [MaxAnswers]ranked
	n    int
	cap  int
	skip []*Node // nodes already answered; never offered again
	// nodes resolves member indices for the skip check.
	nodes []*Node
}

func (t *topK) reset(capacity int) {
	t.n, t.cap = 0, min(capacity, MaxAnswers)
}

// add offers a node. Equal scores (a 2^-53 event) keep the lower node index
// first so the order never depends on the order of offers.
func (t *topK) add(node int32, s float64) {
	if t.cap == 0 {
		return
	}
	if t.n == t.cap && !better(node, s, t.e[t.n-1]) {
		return
	}
	for _, x := range t.skip {
		if t.nodes[node] == x {
			return
		}
	}
	t.n = insertBest(t.e[:], t.n, t.cap, ranked{node, s}, func(a, b ranked) bool {
		return better(a.node, a.score, b)
	})
}

func better(node int32, s float64, r ranked) bool {
	return s > r.score || (s == r.score && node < r.node)
}

// insertBest puts v into the best-first list e[:n] of at most capacity
// entries, dropping the last when full, and returns the new length; the
// caller has checked that v ranks ahead of a full list's last entry.
func insertBest[T any](e []T, n, capacity int, v T, before func(a, b T) bool) int {
	i := n
	if i == capacity {
		i--
	} else {
		n++
	}
	for i > 0 && before(v, e[i-1]) {
		e[i] = e[i-1]
		i--
	}
	e[i] = v
	return n
}

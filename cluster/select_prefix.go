package cluster

import (
	"cmp"
	"math/bits"
	"net/netip"
	"slices"

	"github.com/gaissmai/bart"
)

// prefixIndex holds the candidates' network prefixes: a longest-prefix
// match table, and every prefix's network address in sorted order for the
// ECS scope.
type prefixIndex struct {
	table   bart.Fast[int32] // prefix -> index into entries; Fast: lookups are the hot path
	entries []prefixEntry
	single  []group     // one-node groups, one per pool node; a prefix several nodes list has its own
	fam4    sortedAddrs // network addresses of the IPv4 prefixes, sorted by (address, length)
	fam6    sortedAddrs
}

// prefixEntry is one distinct prefix.
type prefixEntry struct {
	prefix netip.Prefix
	group  *group
	// [lo, hi) is the range of the family's sorted addresses that lie inside
	// this prefix and belong to longer prefixes (its subnets).
	lo, hi int32
}

// sortedAddrs is a family's sorted prefix addresses with a directory on
// their first 16 bits: dir[x] is the first index whose address starts with
// x or more, so a search touches one or two cache lines instead of the
// seventeen steps of a binary search over 100,000 addresses.
type sortedAddrs struct {
	addrs []addr128
	dir   []int32 // 1<<16 + 1 entries when addrs is not empty
}

func newSortedAddrs(addrs []addr128) sortedAddrs {
	s := sortedAddrs{addrs: addrs}
	if len(addrs) == 0 {
		return s
	}
	s.dir = make([]int32, 1<<16+1)
	i := 0
	for x := 0; x <= 1<<16; x++ {
		for i < len(addrs) && int(addrs[i].hi>>48) < x {
			i++
		}
		s.dir[x] = int32(i)
	}
	return s
}

// addr128 is an address as a 128-bit number, IPv4 in the high 32 bits so
// common-prefix lengths count from the first address bit in both families.
type addr128 struct{ hi, lo uint64 }

func toAddr128(a netip.Addr) addr128 {
	if a.Is4() {
		b := a.As4()
		return addr128{hi: uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32}
	}
	b := a.As16()
	var x addr128
	for i := 0; i < 8; i++ {
		x.hi = x.hi<<8 | uint64(b[i])
		x.lo = x.lo<<8 | uint64(b[8+i])
	}
	return x
}

func (a addr128) cmp(b addr128) int {
	if c := cmp.Compare(a.hi, b.hi); c != 0 {
		return c
	}
	return cmp.Compare(a.lo, b.lo)
}

// cpl is the length of the common leading bits of a and b.
func (a addr128) cpl(b addr128) int {
	if x := a.hi ^ b.hi; x != 0 {
		return bits.LeadingZeros64(x)
	}
	return 64 + bits.LeadingZeros64(a.lo^b.lo)
}

// newPrefixIndex indexes the prefixes of the candidate nodes. Nodes that
// list the same prefix share a group.
func newPrefixIndex(nodes []*Node, members []member, answers int) *prefixIndex {
	x := &prefixIndex{}
	type owned struct {
		p    netip.Prefix
		node int32
	}
	count := 0
	for _, n := range nodes {
		count += len(n.Prefixes)
	}
	all := make([]owned, 0, count)
	for i, n := range nodes {
		for _, p := range n.Prefixes {
			if p = p.Masked(); p.IsValid() {
				all = append(all, owned{p, int32(i)})
			}
		}
	}
	if len(all) == 0 {
		return x
	}
	// Sorted by address then length, the subnets of a prefix follow it
	// directly; the owners of one prefix sit side by side.
	slices.SortFunc(all, func(a, b owned) int {
		if c := a.p.Addr().Compare(b.p.Addr()); c != 0 {
			return c
		}
		if c := cmp.Compare(a.p.Bits(), b.p.Bits()); c != 0 {
			return c
		}
		return cmp.Compare(a.node, b.node)
	})
	all = slices.CompactFunc(all, func(a, b owned) bool { return a == b })
	x.single = make([]group, len(nodes))
	for i := range nodes {
		x.single[i] = group{members: members[i : i+1 : i+1]}
	}
	x.entries = make([]prefixEntry, 0, len(all))
	var addrs4, addrs6 []addr128
	for i := 0; i < len(all); {
		j := i + 1
		for j < len(all) && all[j].p == all[i].p {
			j++
		}
		p := all[i].p
		e := prefixEntry{prefix: p}
		if j-i == 1 {
			e.group = &x.single[all[i].node]
		} else {
			ms := make([]member, 0, j-i)
			for _, o := range all[i:j] {
				ms = append(ms, members[o.node])
			}
			g := newGroup(ms, answers)
			e.group = &g
		}
		x.entries = append(x.entries, e)
		if p.Addr().Is4() {
			if addrs4 == nil {
				addrs4 = make([]addr128, 0, len(all))
			}
			addrs4 = append(addrs4, toAddr128(p.Addr()))
		} else {
			addrs6 = append(addrs6, toAddr128(p.Addr()))
		}
		i = j
	}
	x.fam4, x.fam6 = newSortedAddrs(addrs4), newSortedAddrs(addrs6)
	// IPv4 sorts before IPv6 in netip order, so entry i of a family is at
	// i - (number of IPv4 entries) in the IPv6 list.
	n4 := len(addrs4)
	for i := range x.entries {
		e := &x.entries[i]
		addrs, at := addrs4, i
		if !e.prefix.Addr().Is4() {
			addrs, at = addrs6, i-n4
		}
		last := toAddr128(lastAddr(e.prefix))
		hi, _ := slices.BinarySearchFunc(addrs[at:], last, func(a, t addr128) int {
			if a.cmp(t) <= 0 {
				return -1
			}
			return 1
		})
		e.lo, e.hi = int32(at+1), int32(at+hi)
		x.table.Insert(e.prefix, int32(i))
	}
	return x
}

// lastAddr is the highest address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Addr()
	if a.Is4() {
		b := a.As4()
		for i := p.Bits(); i < 32; i++ {
			b[i/8] |= 0x80 >> (i % 8)
		}
		return netip.AddrFrom4(b)
	}
	b := a.As16()
	for i := p.Bits(); i < 128; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom16(b)
}

// lookup returns the longest candidate prefix containing a.
func (x *prefixIndex) lookup(a netip.Addr) (*prefixEntry, bool) {
	if len(x.entries) == 0 {
		return nil, false
	}
	i, ok := x.table.Lookup(a)
	if !ok {
		return nil, false
	}
	return &x.entries[i], true
}

// family returns the sorted prefix addresses of a's family.
func (x *prefixIndex) family(a netip.Addr) *sortedAddrs {
	if a.Is4() {
		return &x.fam4
	}
	return &x.fam6
}

// exclusionScope is the shortest scope s such that the network a/s holds
// none of the prefixes whose addresses are s.addrs[start:end] (prefixes that
// do not contain a): then every address of a/s matches exactly what a
// matches. A prefix Q not containing a lies inside a/s exactly when a and
// Q's address share at least s leading bits, so s is one more than the
// longest common prefix of a with any of them; among sorted addresses the
// longest common prefix is with a's neighbours in the order. 0 when the
// range is empty.
func (s *sortedAddrs) exclusionScope(a addr128, start, end int) int {
	if start >= end {
		return 0
	}
	// a's place in the whole list lies between the directory entries of
	// its first 16 bits; clamped to [start, end] it is a's place there.
	top := a.hi >> 48
	lo := min(max(int(s.dir[top]), start), end)
	hi := min(max(int(s.dir[top+1]), start), end)
	for lo < hi { // first index with addrs[i] >= a
		m := int(uint(lo+hi) >> 1)
		if s.addrs[m].cmp(a) < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	best := -1
	if lo < end {
		best = a.cpl(s.addrs[lo])
	}
	if lo > start {
		best = max(best, a.cpl(s.addrs[lo-1]))
	}
	return best + 1
}

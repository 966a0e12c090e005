package relay

import (
	"net/netip"
	"sync"

	"github.com/meridian-traffic/meridian/relay/internal/udpbatch"
)

// The relay moves datagrams in batches where it can: one system call reads
// what is queued on a socket (recvmmsg) and one sends what a batch has for
// a socket (sendmmsg, or one write of concatenated frames on a stream).
// Every packet is still filtered, capped and counted on its own, in order.

// peerBatchLen is the most peer datagrams one read of a relayed socket
// takes. A batch is lent only while datagrams are queued, so an idle
// allocation holds none.
const peerBatchLen = 32

// frameStride is the room of one peer datagram framed as ChannelData: 4
// header bytes, the payload, 3 bytes of stream padding.
const frameStride = 4 + maxRelayPacket + 3

// peerBatch is one read of peer datagrams and the frames they become.
type peerBatch struct {
	b    *udpbatch.Batch
	slab []byte         // frame i at slab[i*frameStride:]; datagram i read at +4
	out  []udpbatch.Msg // frames for the client
	outN []int          // their payload lengths
	wbuf []byte         // stream links: the frames concatenated
}

var peerBatches = sync.Pool{New: func() any {
	pb := &peerBatch{slab: make([]byte, peerBatchLen*frameStride)}
	pb.b = udpbatch.NewBatch(peerBatchLen, func(i int) []byte {
		off := i * frameStride
		return pb.slab[off+4 : off+4+maxRelayPacket]
	})
	pb.out = make([]udpbatch.Msg, 0, peerBatchLen)
	pb.outN = make([]int, 0, peerBatchLen)
	return pb
}}

// frame returns room for frame i of the batch.
func (pb *peerBatch) frame(i int) []byte {
	return pb.slab[i*frameStride : (i+1)*frameStride]
}

// sendQueue holds client payloads already admitted (filtered, capped and
// counted) for their peers, and sends them in one sendmmsg per relayed
// socket. The payloads stay in the reader's buffer until flush, which the
// reader calls before it reads again, before it hands anything to pion,
// and when the queue is full.
type sendQueue struct {
	n       int
	conns   [udpbatch.MaxBatch]*relayConn
	msgs    [udpbatch.MaxBatch]udpbatch.Msg
	group   [udpbatch.MaxBatch]udpbatch.Msg
	scratch *udpbatch.Batch
}

var sendQueues = sync.Pool{New: func() any {
	return &sendQueue{scratch: udpbatch.NewBatch(0, nil)}
}}

// queueToPeer relays payload b to peer through c: at once without a
// queue, else through *q (taken from the pool when nil). It reports false
// when the packet was dropped by the filter or a cap.
func queueToPeer(q **sendQueue, c *relayConn, b []byte, peer netip.AddrPort) bool {
	if q == nil || c.bc == nil {
		ok, _ := c.sendToPeer(b, peer)
		return ok
	}
	if !c.admitToPeer(b, peer) {
		return false
	}
	if *q == nil {
		*q = sendQueues.Get().(*sendQueue)
	}
	sq := *q
	sq.conns[sq.n] = c
	sq.msgs[sq.n] = udpbatch.Msg{Buf: b, Addr: peer}
	sq.n++
	if sq.n == len(sq.msgs) {
		flushToPeers(q)
	}
	return true
}

// flushToPeers sends what *q holds and gives the queue back to the pool.
func flushToPeers(q **sendQueue) {
	sq := *q
	if sq == nil {
		return
	}
	for i := 0; i < sq.n; i++ {
		c := sq.conns[i]
		if c == nil {
			continue
		}
		// The run of this socket's payloads, in order.
		g := 0
		for j := i; j < sq.n; j++ {
			if sq.conns[j] == c {
				sq.group[g] = sq.msgs[j]
				g++
				sq.conns[j] = nil
			}
		}
		ms := sq.group[:g]
		for len(ms) > 0 {
			n, err := c.bc.Write(sq.scratch, ms)
			if err == nil {
				break
			}
			c.unsendToPeer(len(ms[n].Buf))
			ms = ms[n+1:]
		}
	}
	clear(sq.msgs[:sq.n])
	clear(sq.group[:])
	sq.n = 0
	sendQueues.Put(sq)
	*q = nil
}

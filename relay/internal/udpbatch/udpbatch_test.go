package udpbatch

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"
)

func listen(t *testing.T, network, addr string) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
	if err != nil {
		t.Skipf("listen %s %s: %v", network, addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct{ network, addr string }{{"udp4", "127.0.0.1:0"}, {"udp6", "[::1]:0"}, {"udp", "[::]:0"}} {
		t.Run(tc.network, func(t *testing.T) {
			a := listen(t, tc.network, tc.addr)
			b := listen(t, "udp4", "127.0.0.1:0")
			ca, err := New(a)
			if err != nil {
				t.Fatal(err)
			}
			cb, err := New(b)
			if err != nil {
				t.Fatal(err)
			}
			to := b.LocalAddr().(*net.UDPAddr).AddrPort()
			if tc.network == "udp6" {
				b = listen(t, "udp6", "[::1]:0")
				if cb, err = New(b); err != nil {
					t.Fatal(err)
				}
				to = b.LocalAddr().(*net.UDPAddr).AddrPort()
			}
			const n = 100 // more than MaxBatch: Write splits
			w := NewBatch(0, nil)
			ms := make([]Msg, n)
			for i := range ms {
				ms[i] = Msg{Buf: []byte(fmt.Sprintf("datagram %d", i)), Addr: to}
			}
			if got, err := ca.Write(w, ms); got != n || err != nil {
				t.Fatalf("write: %d, %v", got, err)
			}
			r := NewBatch(16, func(int) []byte { return make([]byte, 64) })
			seen := 0
			b.SetReadDeadline(time.Now().Add(5 * time.Second))
			for seen < n {
				got, err := cb.Read(r)
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range r.Msgs[:got] {
					if want := fmt.Sprintf("datagram %d", seen); !bytes.Equal(m.Buf[:m.N], []byte(want)) {
						t.Fatalf("got %q, want %q", m.Buf[:m.N], want)
					}
					if m.Addr.Port() != a.LocalAddr().(*net.UDPAddr).AddrPort().Port() {
						t.Fatalf("source %v", m.Addr)
					}
					seen++
				}
			}
			// Lent reads give back what they did not fill.
			lends, backs := 0, 0
			lr := &LentRead{
				Lend:     func() *Batch { lends++; return r },
				GiveBack: func(*Batch) { backs++ },
			}
			go func() {
				time.Sleep(20 * time.Millisecond)
				ca.Write(w, ms[:3])
			}()
			got := 0
			for got < 3 {
				lb, k, err := cb.ReadLent(lr)
				if err != nil {
					t.Fatal(err)
				}
				got += k
				lr.GiveBack(lb)
			}
			if lends != backs {
				t.Fatalf("lent %d, given back %d", lends, backs)
			}
			if testing.AllocsPerRun(100, func() {
				ca.Write(w, ms[:8])
				k := 0
				for k < 8 {
					got, _ := cb.Read(r)
					k += got
				}
			}) > 0 {
				t.Error("batches allocate")
			}
		})
	}
}

func TestSendError(t *testing.T) {
	a := listen(t, "udp4", "127.0.0.1:0")
	b := listen(t, "udp4", "127.0.0.1:0")
	ca, _ := New(a)
	to := b.LocalAddr().(*net.UDPAddr).AddrPort()
	w := NewBatch(0, nil)
	ms := []Msg{{Buf: []byte("a"), Addr: to}, {Buf: []byte("b"), Addr: netip.MustParseAddrPort("[2001:db8::1]:9")}, {Buf: []byte("c"), Addr: to}}
	n, err := ca.Write(w, ms)
	if n != 1 || err == nil {
		t.Fatalf("write: %d, %v; want 1 and an error", n, err)
	}
	if n, err := ca.Write(w, ms[2:]); n != 1 || err != nil {
		t.Fatalf("write after the error: %d, %v", n, err)
	}
}

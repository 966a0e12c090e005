// Command turnload is the saturating load of the relay benchmark
// (relay/bench/bench.sh): it makes allocations on a TURN server over UDP
// or TCP with TURN REST credentials, binds a channel of each to an echo
// peer of its own, and keeps a window of ChannelData messages in flight
// per allocation for a while. It reads and writes its UDP sockets in
// batches (recvmmsg, sendmmsg), so on one CPU it outruns a relay that
// moves one datagram per system call, and the relay becomes the limit.
//
// It counts the packets the server relayed (those reaching the peer plus
// those coming back to the clients) over the measured span, and reads the
// server's CPU time from /proc/PID/stat over the same span, so the
// allocation phase is left out. The result is one line of key=value
// pairs.
//
//	TURNLOAD_SECRET=... turnload -server 127.0.0.62:3478 -peer 127.0.0.63 \
//	    -local 127.0.0.64 -pid PID [-tcp] [-clients 16] [-window 32]
//
// The secret is coturn's static-auth-secret (the relay's secret) and is
// read from the environment.
package main

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pion/stun"

	"github.com/meridian-traffic/meridian/relay/internal/udpbatch"
)

var (
	server   = flag.String("server", "127.0.0.62:3478", "TURN server address")
	useTCP   = flag.Bool("tcp", false, "TURN over TCP (default UDP)")
	peerIP   = flag.String("peer", "127.0.0.63", "address of the echo peers")
	localIP  = flag.String("local", "127.0.0.64", "client source address")
	clients  = flag.Int("clients", 16, "allocations")
	peers    = flag.Int("peers", 4, "echo peer sockets")
	size     = flag.Int("size", 100, "payload bytes per message")
	window   = flag.Int("window", 32, "messages in flight per allocation")
	interval = flag.Duration("interval", 0, "paced load: one message per allocation this often instead of a window")
	warmup   = flag.Duration("warmup", time.Second, "load before measuring")
	duration = flag.Duration("duration", 5*time.Second, "measured span")
	pid      = flag.Int("pid", 0, "server process whose CPU time is measured")
	user     = flag.String("user", "bench", "USER part of the credential")
	realmArg = flag.String("realm", "", "expected realm (any when empty)")
)

// Packets relayed, as seen by the peers and by the clients.
var toPeer, toClient, lost atomic.Uint64

var stop atomic.Bool

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "turnload:", err)
		os.Exit(1)
	}
}

func run() error {
	secret := os.Getenv("TURNLOAD_SECRET")
	if secret == "" {
		return errors.New("set TURNLOAD_SECRET")
	}
	srv, err := netip.ParseAddrPort(*server)
	if err != nil {
		return fmt.Errorf("-server: %w", err)
	}
	peerAddr, err := netip.ParseAddr(*peerIP)
	if err != nil {
		return fmt.Errorf("-peer: %w", err)
	}
	local, err := netip.ParseAddr(*localIP)
	if err != nil {
		return fmt.Errorf("-local: %w", err)
	}

	var pws []*net.UDPConn
	for range *peers {
		pc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(peerAddr, 0)))
		if err != nil {
			return err
		}
		_ = pc.SetReadBuffer(4 << 20)
		_ = pc.SetWriteBuffer(4 << 20)
		defer pc.Close()
		pws = append(pws, pc)
		go echo(pc)
	}

	name := fmt.Sprintf("%d:%s", time.Now().Add(time.Hour).Unix(), *user)
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(name))
	pass := base64.StdEncoding.EncodeToString(mac.Sum(nil))

	cs := make([]*client, *clients)
	for i := range cs {
		c, err := dial(srv, local, *useTCP)
		if err != nil {
			return fmt.Errorf("client %d: %w", i, err)
		}
		defer c.close()
		c.username, c.password = name, pass
		if err := c.allocate(); err != nil {
			return fmt.Errorf("client %d: allocate: %w", i, err)
		}
		if *realmArg != "" && c.realm != *realmArg {
			return fmt.Errorf("realm %q, want %q", c.realm, *realmArg)
		}
		peer := pws[i%len(pws)].LocalAddr().(*net.UDPAddr).AddrPort()
		if err := c.bind(0x4000, peer); err != nil {
			return fmt.Errorf("client %d: channel bind: %w", i, err)
		}
		cs[i] = c
	}

	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.load(); err != nil && !stop.Load() {
				fmt.Fprintln(os.Stderr, "turnload: load:", err)
			}
		}()
	}
	time.Sleep(*warmup)
	p0, s0, l0, lost0, t0 := toPeer.Load()+toClient.Load(), cpu(*pid), cpu(os.Getpid()), lost.Load(), time.Now()
	time.Sleep(*duration)
	p1, s1, l1, lost1, t1 := toPeer.Load()+toClient.Load(), cpu(*pid), cpu(os.Getpid()), lost.Load(), time.Now()
	stop.Store(true)
	wg.Wait()
	for _, c := range cs {
		c.deallocate()
	}

	secs := t1.Sub(t0).Seconds()
	pkts := p1 - p0
	scpu := max(s1-s0, 0.01)
	fmt.Printf("packets=%d seconds=%.3f pps=%.0f server_cpu=%.2f ppc=%.0f server_util=%.2f load_cpu=%.2f lost=%d\n",
		pkts, secs, float64(pkts)/secs, s1-s0, float64(pkts)/scpu, (s1-s0)/secs, l1-l0, lost1-lost0)
	return nil
}

// cpu is a process's user and system CPU seconds so far, 0 without one.
func cpu(pid int) float64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	s = s[strings.LastIndexByte(s, ')')+2:]
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}

// echo sends every datagram back to where it came from.
func echo(pc *net.UDPConn) {
	c, err := udpbatch.New(pc)
	if err != nil {
		return
	}
	rb := udpbatch.NewBatch(udpbatch.MaxBatch, func(int) []byte { return make([]byte, 2048) })
	wb := udpbatch.NewBatch(0, nil)
	out := make([]udpbatch.Msg, udpbatch.MaxBatch)
	for {
		n, err := c.Read(rb)
		if err != nil {
			return
		}
		for i, m := range rb.Msgs[:n] {
			out[i] = udpbatch.Msg{Buf: m.Buf[:m.N], Addr: m.Addr}
		}
		toPeer.Add(uint64(n))
		for sent := 0; sent < n; {
			k, err := c.Write(wb, out[sent:n])
			sent += k + 1 // skip a datagram that failed
			if err == nil {
				break
			}
		}
	}
}

// client is one allocation.
type client struct {
	srv      netip.AddrPort
	udp      *net.UDPConn
	tcp      net.Conn
	rd       *bufio.Reader
	username string
	password string
	realm    string
	nonce    string
	channel  uint16
}

func dial(srv netip.AddrPort, local netip.Addr, tcp bool) (*client, error) {
	c := &client{srv: srv}
	if tcp {
		d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(local, 0)), Timeout: 5 * time.Second}
		conn, err := d.Dial("tcp", srv.String())
		if err != nil {
			return nil, err
		}
		c.tcp = conn
		c.rd = bufio.NewReaderSize(conn, 256<<10)
		return c, nil
	}
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 0)))
	if err != nil {
		return nil, err
	}
	_ = conn.SetReadBuffer(4 << 20)
	_ = conn.SetWriteBuffer(4 << 20)
	c.udp = conn
	return c, nil
}

func (c *client) close() {
	if c.udp != nil {
		c.udp.Close()
	}
	if c.tcp != nil {
		c.tcp.Close()
	}
}

// roundTrip sends a request and returns its response; UDP requests are
// sent again after a silence.
func (c *client) roundTrip(req *stun.Message) (*stun.Message, error) {
	for try := 0; try < 5; try++ {
		if c.udp != nil {
			if _, err := c.udp.WriteToUDPAddrPort(req.Raw, c.srv); err != nil {
				return nil, err
			}
			_ = c.udp.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		} else {
			if _, err := c.tcp.Write(req.Raw); err != nil {
				return nil, err
			}
			_ = c.tcp.SetReadDeadline(time.Now().Add(5 * time.Second))
		}
		for {
			raw, err := c.readMessage()
			if errors.Is(err, os.ErrDeadlineExceeded) && c.udp != nil {
				break
			}
			if err != nil {
				return nil, err
			}
			if !stun.IsMessage(raw) {
				continue
			}
			m := &stun.Message{Raw: raw}
			if err := m.Decode(); err != nil || m.TransactionID != req.TransactionID {
				continue
			}
			return m, nil
		}
	}
	return nil, errors.New("no response")
}

// readMessage reads one datagram or stream frame.
func (c *client) readMessage() ([]byte, error) {
	if c.udp != nil {
		b := make([]byte, 2048)
		n, _, err := c.udp.ReadFromUDPAddrPort(b)
		return b[:n], err
	}
	var hdr [4]byte
	if _, err := io.ReadFull(c.rd, hdr[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(hdr[2:]))
	if hdr[0]&0xC0 == 0x40 {
		n = (n + 3) &^ 3
	} else {
		n += 16
	}
	b := make([]byte, 4+n)
	copy(b, hdr[:])
	_, err := io.ReadFull(c.rd, b[4:])
	return b, err
}

// request sends an authenticated request, learning the realm and nonce
// from a 401 or 438 first.
func (c *client) request(t stun.MessageType, attrs ...stun.Setter) (*stun.Message, error) {
	for try := 0; try < 3; try++ {
		setters := append([]stun.Setter{stun.TransactionID, t}, attrs...)
		if c.nonce != "" {
			setters = append(setters, stun.NewUsername(c.username), stun.NewRealm(c.realm), stun.NewNonce(c.nonce),
				stun.NewLongTermIntegrity(c.username, c.realm, c.password))
		}
		setters = append(setters, stun.Fingerprint)
		req, err := stun.Build(setters...)
		if err != nil {
			return nil, err
		}
		res, err := c.roundTrip(req)
		if err != nil {
			return nil, err
		}
		if res.Type.Class == stun.ClassSuccessResponse {
			return res, nil
		}
		var code stun.ErrorCodeAttribute
		_ = code.GetFrom(res)
		if code.Code != stun.CodeUnauthorized && code.Code != stun.CodeStaleNonce {
			return nil, fmt.Errorf("%s: %d %s", t, code.Code, code.Reason)
		}
		var realm stun.Realm
		var nonce stun.Nonce
		if realm.GetFrom(res) == nil {
			c.realm = realm.String()
		}
		if err := nonce.GetFrom(res); err != nil {
			return nil, fmt.Errorf("%s: %d without a nonce", t, code.Code)
		}
		c.nonce = nonce.String()
	}
	return nil, fmt.Errorf("%s: not authenticated", t)
}

// TURN attributes pion/stun has no setters for.
const (
	attrChannelNumber     = stun.AttrType(0x000C)
	attrLifetime          = stun.AttrType(0x000D)
	attrRequestedTranspor = stun.AttrType(0x0019)
)

type rawAttr struct {
	t stun.AttrType
	v []byte
}

func (a rawAttr) AddTo(m *stun.Message) error { m.Add(a.t, a.v); return nil }

type peerAttr netip.AddrPort

func (p peerAttr) AddTo(m *stun.Message) error {
	ap := netip.AddrPort(p)
	return stun.XORMappedAddress{IP: ap.Addr().AsSlice(), Port: int(ap.Port())}.AddToAs(m, stun.AttrXORPeerAddress)
}

func (c *client) allocate() error {
	_, err := c.request(stun.NewType(stun.MethodAllocate, stun.ClassRequest),
		rawAttr{attrRequestedTranspor, []byte{17, 0, 0, 0}})
	return err
}

func (c *client) bind(ch uint16, peer netip.AddrPort) error {
	_, err := c.request(stun.NewType(stun.MethodChannelBind, stun.ClassRequest),
		rawAttr{attrChannelNumber, []byte{byte(ch >> 8), byte(ch), 0, 0}}, peerAttr(peer))
	c.channel = ch
	return err
}

func (c *client) deallocate() {
	if c.udp == nil {
		return // closing the connection ends it
	}
	_ = c.udp.SetReadDeadline(time.Time{})
	_, _ = c.request(stun.NewType(stun.MethodRefresh, stun.ClassRequest), rawAttr{attrLifetime, []byte{0, 0, 0, 0}})
}

// frame is one ChannelData message of the load.
func (c *client) frame() []byte {
	f := make([]byte, 4+(*size+3)&^3)
	binary.BigEndian.PutUint16(f[0:], c.channel)
	binary.BigEndian.PutUint16(f[2:], uint16(*size))
	for i := 4; i < 4+*size; i++ {
		f[i] = byte(i)
	}
	if c.udp != nil {
		return f[:4+*size]
	}
	return f
}

// lossTimeout is how long a window waits for its answers before they
// count as lost.
const lossTimeout = 20 * time.Millisecond

func (c *client) load() error {
	if *interval > 0 {
		return c.loadPaced()
	}
	if c.udp != nil {
		return c.loadUDP()
	}
	return c.loadTCP()
}

func (c *client) loadUDP() error {
	bc, err := udpbatch.New(c.udp)
	if err != nil {
		return err
	}
	f := c.frame()
	out := make([]udpbatch.Msg, *window)
	for i := range out {
		out[i] = udpbatch.Msg{Buf: f, Addr: c.srv}
	}
	wb := udpbatch.NewBatch(0, nil)
	rb := udpbatch.NewBatch(udpbatch.MaxBatch, func(int) []byte { return make([]byte, 2048) })
	inflight := 0
	for !stop.Load() {
		if inflight < *window {
			n, err := bc.Write(wb, out[:*window-inflight])
			if err != nil && !errors.Is(err, syscall.ECONNREFUSED) {
				return err
			}
			inflight += n
		}
		_ = c.udp.SetReadDeadline(time.Now().Add(lossTimeout))
		n, err := bc.Read(rb)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			lost.Add(uint64(inflight))
			inflight = 0
			continue
		}
		if err != nil {
			return err
		}
		got := 0
		for _, m := range rb.Msgs[:n] {
			if m.N >= 4 && m.Buf[0]&0xC0 == 0x40 {
				got++
			}
		}
		toClient.Add(uint64(got))
		inflight = max(inflight-got, 0)
	}
	return nil
}

func (c *client) loadTCP() error {
	f := c.frame()
	burst := make([]byte, 0, len(f)**window)
	inflight := 0
	for !stop.Load() {
		if inflight < *window {
			burst = burst[:0]
			for range *window - inflight {
				burst = append(burst, f...)
			}
			if _, err := c.tcp.Write(burst); err != nil {
				return err
			}
			inflight = *window
		}
		_ = c.tcp.SetReadDeadline(time.Now().Add(lossTimeout))
		got, err := c.readFrames()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if got == 0 {
				lost.Add(uint64(inflight))
				inflight = 0
			}
		} else if err != nil {
			return err
		}
		toClient.Add(uint64(got))
		inflight = max(inflight-got, 0)
	}
	return nil
}

// readFrames consumes the whole frames buffered (waiting for one when none
// is) and counts the ChannelData among them.
func (c *client) readFrames() (int, error) {
	got := 0
	for {
		if c.rd.Buffered() < 4 && got > 0 {
			return got, nil
		}
		hdr, err := c.rd.Peek(4)
		if err != nil {
			return got, err
		}
		n := int(binary.BigEndian.Uint16(hdr[2:]))
		cd := hdr[0]&0xC0 == 0x40
		if cd {
			n = 4 + (n+3)&^3
		} else {
			n += 20
		}
		if c.rd.Buffered() < n && got > 0 {
			return got, nil
		}
		// Peek first: a deadline in the middle of a frame leaves it whole.
		if _, err := c.rd.Peek(n); err != nil {
			return got, err
		}
		_, _ = c.rd.Discard(n)
		if cd {
			got++
		}
	}
}

// loadPaced sends one message every interval and counts what comes back,
// like turnutils_uclient -z: the relay waits for each one.
func (c *client) loadPaced() error {
	f := c.frame()
	done := make(chan error, 1)
	go func() {
		b := make([]byte, 256<<10)
		for !stop.Load() {
			var err error
			got := 0
			if c.udp != nil {
				_ = c.udp.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
				var n int
				n, _, err = c.udp.ReadFromUDPAddrPort(b)
				if err == nil && n >= 4 && b[0]&0xC0 == 0x40 {
					got = 1
				}
			} else {
				_ = c.tcp.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
				got, err = c.readFrames()
			}
			if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				done <- err
				return
			}
			toClient.Add(uint64(got))
		}
		done <- nil
	}()
	t := time.NewTicker(*interval)
	defer t.Stop()
	for !stop.Load() {
		<-t.C
		var err error
		if c.udp != nil {
			_, err = c.udp.WriteToUDPAddrPort(f, c.srv)
		} else {
			_, err = c.tcp.Write(f)
		}
		if err != nil {
			return err
		}
	}
	return <-done
}

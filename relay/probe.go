package relay

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/pion/turn/v2"

	"github.com/meridian-traffic/meridian/cluster"
)

// ProbeOptions tune Probe; zero values are defaults.
type ProbeOptions struct {
	// Network is "udp" (default), "tcp" or "tls".
	Network string
	// TLSConfig is the client TLS configuration for "tls" (default: the
	// system roots, server name from server).
	TLSConfig *tls.Config
	// User is the USER part of the probe's credential (default
	// "meridian-probe").
	User string
	// TTL is the credential's validity (default one minute).
	TTL time.Duration
	// LocalAddr is the local address to send from (default any).
	LocalAddr string
	// Draining tells that the relay is known to drain: a 508 refusal of
	// the allocation then counts as alive too (300 Try Alternate always
	// does).
	Draining bool
}

// Probe checks a relay end to end: it allocates with a short-lived
// credential made from secret, sends a datagram from the allocation to
// its own relayed address and waits for it to come back through the
// relay. It returns nil when the datagram arrived, or when a draining
// relay refused the allocation after authenticating it; errors wrap
// ErrProbe. ctx bounds the whole probe.
func Probe(ctx context.Context, server string, secret []byte, opt ProbeOptions) (err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w: %s: %w", ErrProbe, server, err)
		}
	}()
	if opt.User == "" {
		opt.User = "meridian-probe"
	}
	if opt.TTL <= 0 {
		opt.TTL = time.Minute
	}
	username, password := cluster.RelayCredential(secret, opt.User, time.Now().Add(opt.TTL))
	client, conn, err := dialTURN(ctx, server, opt, username, password)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- probe(client, opt.Draining) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	client.Close()
	_ = conn.Close()
	if ctx.Err() != nil {
		<-done
	}
	return err
}

// dialTURN connects to server over opt.Network from opt.LocalAddr (with
// opt.TLSConfig for "tls"; opt's other fields play no part) and returns a
// pion TURN client on the connection that authenticates as username with
// password. The caller closes the client, then the connection.
func dialTURN(ctx context.Context, server string, opt ProbeOptions, username, password string) (*turn.Client, net.PacketConn, error) {
	var conn net.PacketConn
	var err error
	switch opt.Network {
	case "", "udp":
		conn, err = net.ListenPacket("udp", opt.LocalAddr)
	case "tcp", "tls":
		d := net.Dialer{}
		if opt.LocalAddr != "" {
			if d.LocalAddr, err = net.ResolveTCPAddr("tcp", opt.LocalAddr); err != nil {
				return nil, nil, err
			}
		}
		var c net.Conn
		if opt.Network == "tls" {
			td := tls.Dialer{NetDialer: &d, Config: opt.TLSConfig}
			c, err = td.DialContext(ctx, "tcp", server)
		} else {
			c, err = d.DialContext(ctx, "tcp", server)
		}
		if err == nil {
			conn = turn.NewSTUNConn(c)
		}
	default:
		return nil, nil, fmt.Errorf("network %q: want udp, tcp or tls", opt.Network)
	}
	if err != nil {
		return nil, nil, err
	}
	client, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: server,
		TURNServerAddr: server,
		Username:       username,
		Password:       password,
		Conn:           conn,
		LoggerFactory:  pionLogs{log: discardLogger()},
	})
	if err != nil {
		_ = conn.Close()
		return nil, nil, err
	}
	return client, conn, nil
}

func probe(client *turn.Client, draining bool) error {
	if err := client.Listen(); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	relayed, err := client.Allocate()
	if err != nil {
		// A draining relay refuses new allocations after authenticating
		// the request: with 300 Try Alternate, or 508 when it knows no
		// alternate. It is alive and serving its existing allocations,
		// which is what a health probe asks. pion reports the code only in
		// the error text.
		if msg := err.Error(); strings.Contains(msg, "(error 300") || draining && strings.Contains(msg, "(error 508") {
			return nil
		}
		return fmt.Errorf("allocate: %w", err)
	}
	defer relayed.Close()
	want := make([]byte, 16)
	_, _ = rand.Read(want)
	buf := make([]byte, 1600)
	// The first datagrams may race the permission; send a few.
	for range 5 {
		if _, err := relayed.WriteTo(want, relayed.LocalAddr()); err != nil {
			return fmt.Errorf("send: %w", err)
		}
		_ = relayed.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		for {
			n, _, err := relayed.ReadFrom(buf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break
				}
				return fmt.Errorf("receive: %w", err)
			}
			if bytes.Equal(buf[:n], want) {
				return nil
			}
		}
	}
	return errors.New("relayed datagram did not come back")
}

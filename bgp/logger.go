package bgp

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sort"

	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// notification is a BGP NOTIFICATION GoBGP sent or received: the way a
// neighbor says why it refuses or ends a session.
type notification struct {
	neighbor netip.Addr
	received bool
	code     uint8
	subcode  uint8
	text     string // e.g. "code 2(open) subcode 2(bad peer as)"
	comm     string // RFC 8203 shutdown communication, if any
}

func (n notification) String() string {
	dir := "sent"
	if n.received {
		dir = "received"
	}
	s := "notification " + dir + ": " + n.text
	if n.comm != "" {
		s += fmt.Sprintf(" (%q)", n.comm)
	}
	return s
}

// gobgpLogger carries GoBGP's log lines into slog. GoBGP reports
// notifications only through its logger, so those are picked out and
// handed to the speaker too. GoBGP's info lines are routine; they go to
// debug.
type gobgpLogger struct {
	log    *slog.Logger
	notify chan<- notification // never blocks; a full channel drops
}

var _ gobgplog.Logger = (*gobgpLogger)(nil)

func (l *gobgpLogger) emit(level slog.Level, msg string, f gobgplog.Fields) {
	if msg == "received notification" || msg == "sent notification" {
		l.notification(msg == "received notification", f)
		return
	}
	if !l.log.Enabled(context.Background(), level) {
		return
	}
	l.log.Log(context.Background(), level, "gobgp: "+msg, fieldAttrs(f)...)
}

func (l *gobgpLogger) notification(received bool, f gobgplog.Fields) {
	code, _ := f["Code"].(uint8)
	sub, _ := f["Subcode"].(uint8)
	if e, ok := f["Data"].(*bgp.MessageError); ok {
		// A notification GoBGP sends for an error it found carries the
		// codes inside the error.
		code, sub = e.TypeCode, e.SubTypeCode
	}
	n := notification{received: received, code: code, subcode: sub,
		text: bgp.NewNotificationErrorCode(code, sub).String()}
	if key, ok := f["Key"].(string); ok {
		n.neighbor, _ = netip.ParseAddr(key)
	}
	if c, ok := f["Communicated-Reason"].(string); ok {
		n.comm = c
	}
	dir := "sent"
	if received {
		dir = "received"
	}
	attrs := []any{"neighbor", addrString(n.neighbor), "code", code, "subcode", sub, "error", n.text}
	if n.comm != "" {
		attrs = append(attrs, "message", n.comm)
	}
	l.log.Warn("bgp notification "+dir, attrs...)
	select {
	case l.notify <- n:
	default:
	}
}

func fieldAttrs(f gobgplog.Fields) []any {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]any, 0, 2*len(keys))
	for _, k := range keys {
		if k == "Password" || k == "AuthPassword" {
			continue // never log a secret
		}
		out = append(out, k, f[k])
	}
	return out
}

func (l *gobgpLogger) Panic(msg string, f gobgplog.Fields) {
	l.log.Error("gobgp: "+msg, fieldAttrs(f)...)
	panic("gobgp: " + msg) // GoBGP's contract: Panic does not return
}
func (l *gobgpLogger) Fatal(msg string, f gobgplog.Fields) { l.emit(slog.LevelError, msg, f) }
func (l *gobgpLogger) Error(msg string, f gobgplog.Fields) { l.emit(slog.LevelError, msg, f) }
func (l *gobgpLogger) Warn(msg string, f gobgplog.Fields)  { l.emit(slog.LevelWarn, msg, f) }
func (l *gobgpLogger) Info(msg string, f gobgplog.Fields)  { l.emit(slog.LevelDebug, msg, f) }
func (l *gobgpLogger) Debug(msg string, f gobgplog.Fields) { l.emit(slog.LevelDebug-4, msg, f) }
func (l *gobgpLogger) SetLevel(gobgplog.LogLevel)          {}

// GetLevel tells GoBGP whether its debug lines, costly to build, are wanted.
func (l *gobgpLogger) GetLevel() gobgplog.LogLevel {
	if l.log.Enabled(context.Background(), slog.LevelDebug-4) {
		return gobgplog.DebugLevel
	}
	return gobgplog.InfoLevel
}

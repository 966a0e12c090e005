package testkit

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
)

// Buffer is a bytes.Buffer safe for concurrent writers: a log sink for
// code under test that logs from several goroutines.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Logger returns a logger that writes text records of every level, debug
// included, into b.
func (b *Buffer) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// NewLogger returns a debug-level text logger and the buffer it writes to.
func NewLogger() (*slog.Logger, *Buffer) {
	b := &Buffer{}
	return b.Logger(), b
}

// CountLines counts the lines of logs that hold every one of parts: a
// message logged once per change of state shows as exactly one.
func CountLines(logs string, parts ...string) int {
	n := 0
next:
	for _, l := range strings.Split(logs, "\n") {
		for _, p := range parts {
			if !strings.Contains(l, p) {
				continue next
			}
		}
		n++
	}
	return n
}

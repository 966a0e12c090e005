package store

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"go.uber.org/zap"
)

// TestZapLoggerLevels: etcd's warnings reach the director's log by
// default, with their fields; its info shows only at debug level.
func TestZapLoggerLevels(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	zl := NewZapLogger(log).Named("raft").With(zap.String("member", "m1"))

	zl.Info("became leader", zap.Uint64("term", 2))
	zl.Debug("tick")
	if buf.Len() != 0 {
		t.Fatalf("etcd info and debug logged at slog info level: %s", buf.String())
	}
	zl.Warn("slow fdatasync", zap.Error(errors.New("disk busy")), zap.Int("took-ms", 1500))
	zl.Error("lost leader")
	got := buf.String()
	for _, want := range []string{
		"level=WARN", `msg="slow fdatasync"`, "component=etcd", "logger=raft", "member=m1",
		`error="disk busy"`, "took-ms=1500", "level=ERROR", `msg="lost leader"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %s:\n%s", want, got)
		}
	}

	buf.Reset()
	debug := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	NewZapLogger(debug).Info("became leader", zap.Uint64("term", 2))
	if got := buf.String(); !strings.Contains(got, "level=DEBUG") || !strings.Contains(got, "term=2") {
		t.Errorf("etcd info at slog debug level: %q", got)
	}
}

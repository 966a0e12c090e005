package store

import (
	"context"
	"log/slog"
	"slices"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// NewZapLogger is a zap logger for etcd that writes to log. etcd reports
// at info what a director operator wants only when debugging (raft
// elections, snapshots, compactions), so its debug and info entries go to
// slog's debug level; its warnings and errors keep theirs.
func NewZapLogger(log *slog.Logger) *zap.Logger {
	return zap.New(&slogCore{log: log})
}

// slogCore is a zapcore.Core that forwards entries, with their fields, to
// a slog.Logger; the slog handler's level decides what is kept.
type slogCore struct {
	log    *slog.Logger
	fields []zapcore.Field // added by With
}

// slogLevel maps a zap level to the slog level it is logged at.
func slogLevel(l zapcore.Level) slog.Level {
	switch {
	case l <= zapcore.InfoLevel:
		return slog.LevelDebug
	case l == zapcore.WarnLevel:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}

func (c *slogCore) Enabled(l zapcore.Level) bool {
	return c.log.Enabled(context.Background(), slogLevel(l))
}

func (c *slogCore) With(fields []zapcore.Field) zapcore.Core {
	return &slogCore{log: c.log, fields: append(slices.Clip(c.fields), fields...)}
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	ctx := context.Background()
	level := slogLevel(e.Level)
	h := c.log.Handler()
	if !h.Enabled(ctx, level) {
		return nil
	}
	// zap's own encoder turns every field type (errors, durations,
	// objects) into plain values; slog then formats them its way.
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.fields {
		f.AddTo(enc)
	}
	for _, f := range fields {
		f.AddTo(enc)
	}
	r := slog.NewRecord(e.Time, level, e.Message, 0)
	r.AddAttrs(slog.String("component", "etcd"))
	if e.LoggerName != "" {
		r.AddAttrs(slog.String("logger", e.LoggerName))
	}
	keys := make([]string, 0, len(enc.Fields))
	for k := range enc.Fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		r.AddAttrs(slog.Any(k, enc.Fields[k]))
	}
	return h.Handle(ctx, r)
}

func (c *slogCore) Sync() error { return nil }

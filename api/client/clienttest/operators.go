package clienttest

import (
	"testing"

	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/director"
)

// WithOperators gives the director further operators' admin tokens beside
// Token (whose operator is "admin"): their names are the authors of the
// changes and audit entries made with them.
func WithOperators(ts ...cluster.NamedToken) Option {
	return func(_ testing.TB, _ string, _ *Director, cfg *director.Config) {
		cfg.AdminTokens = append(cfg.AdminTokens, ts...)
	}
}

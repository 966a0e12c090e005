package web

import (
	"context"
	"crypto/sha256"

	"github.com/meridian-traffic/meridian/cluster"
)

// adminToken is one operator's admin token, kept hashed.
type adminToken struct {
	name string
	hash [sha256.Size]byte
}

func hashAdmins(ts []cluster.NamedToken) []adminToken {
	out := make([]adminToken, 0, len(ts))
	for _, t := range ts {
		if t.Name == "" || t.Token == "" {
			continue // never a match: an empty name means "refused"
		}
		out = append(out, adminToken{name: t.Name, hash: sha256.Sum256([]byte(t.Token))})
	}
	return out
}

type operatorKey struct{}

// Operator names the operator whose admin token authenticated the request
// of ctx ("" outside WithAdmin).
func Operator(ctx context.Context) string {
	name, _ := ctx.Value(operatorKey{}).(string)
	return name
}

func withOperator(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, operatorKey{}, name)
}

package store

import (
	"fmt"
	"log/slog"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.yaml.in/yaml/v4"

	"github.com/meridian-traffic/meridian/cluster"
)

// Site is one site's part of the store: its name, its key layout and the
// reads and writes of its records.
type Site struct {
	Name string
	Keys Keys

	client *clientv3.Client
	log    *slog.Logger
}

// Site returns the part of the store that holds site name.
func (s *Store) Site(name string, log *slog.Logger) *Site {
	return &Site{Name: name, Keys: NewKeys(name), client: s.client, log: log}
}

// Client is the etcd client, for the callers that need more than a Site
// offers (elections, leases, watches, transactions over several records).
func (s *Site) Client() *clientv3.Client { return s.client }

// ParseForSite validates a site file and checks it is this site's.
func (s *Site) ParseForSite(file string, text []byte) (*cluster.Site, error) {
	cs, err := cluster.Parse(file, text)
	if err != nil {
		return nil, err
	}
	if cs.Name != s.Name {
		fe := cluster.FieldError{File: file, Field: "site", Msg: fmt.Sprintf("%q is not this director's site %q", cs.Name, s.Name)}
		fe.Line, fe.Col = keyPos(text, "site")
		return nil, &cluster.ValidationError{Errors: []cluster.FieldError{fe}}
	}
	return cs, nil
}

// keyPos finds a top-level key of a YAML document (0, 0 when absent).
func keyPos(text []byte, key string) (int, int) {
	var doc yaml.Node
	if yaml.Unmarshal(text, &doc) != nil || len(doc.Content) == 0 {
		return 0, 0
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == key {
			return root.Content[i+1].Line, root.Content[i+1].Column
		}
	}
	return 0, 0
}

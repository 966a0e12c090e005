// Package topo reads the part of a containerlab topology file that the
// Meridian lab uses: nodes (kind, image, labels, binds, cmd, exec) and
// point-to-point links.
package topo

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v4"
)

// Label keys the lab reads from each node.
const (
	LabelRole   = "meridian.role"   // router, director, dns, node, client
	LabelName   = "meridian.name"   // the node's name in the site
	LabelRegion = "meridian.region" // us, eu, ...
)

// Topology is a parsed containerlab file.
type Topology struct {
	Name  string
	Dir   string // directory of the file; bind sources are relative to it
	Nodes map[string]*Node
	Links []Link
}

// Node is one containerlab node.
type Node struct {
	Name    string
	Kind    string
	Image   string
	Labels  map[string]string
	Binds   []Bind
	Cmd     string
	Exec    []string
	Sysctls map[string]string
}

// Role is the node's meridian.role label.
func (n *Node) Role() string { return n.Labels[LabelRole] }

// Bind is a host path mounted at a container path.
type Bind struct{ Host, Container string }

// Endpoint is one end of a link.
type Endpoint struct{ Node, Iface string }

// Link is a point-to-point link between two endpoints.
type Link struct{ A, B Endpoint }

type fileNode struct {
	Kind    string            `yaml:"kind"`
	Image   string            `yaml:"image"`
	Labels  map[string]string `yaml:"labels"`
	Binds   []string          `yaml:"binds"`
	Cmd     string            `yaml:"cmd"`
	Exec    []string          `yaml:"exec"`
	Sysctls map[string]string `yaml:"sysctls"`
}

type file struct {
	Name     string `yaml:"name"`
	Topology struct {
		Kinds map[string]fileNode  `yaml:"kinds"`
		Nodes map[string]*fileNode `yaml:"nodes"`
		Links []struct {
			Endpoints []string `yaml:"endpoints"`
		} `yaml:"links"`
	} `yaml:"topology"`
}

// nameRE keeps node and interface names short and free of shell or path
// characters: they become parts of namespace and interface names.
var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,15}$`)

// sysctlRE admits the namespaced network sysctls the lab sets.
var sysctlRE = regexp.MustCompile(`^[a-z0-9_.]+$`)

// Load reads and checks the topology file at path.
func Load(path string) (*Topology, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("topology: %w", err)
	}
	t, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("topology %s: %w", path, err)
	}
	t.Dir = filepath.Dir(path)
	return t, nil
}

// Parse parses a topology file's contents.
func Parse(data []byte) (*Topology, error) {
	var f file
	if err := yaml.Unmarshal(data, &f); err != nil {
		return nil, err
	}
	if f.Name == "" {
		return nil, errors.New("name: missing")
	}
	t := &Topology{Name: f.Name, Nodes: map[string]*Node{}}
	for name, fn := range f.Topology.Nodes {
		if fn == nil {
			fn = &fileNode{}
		}
		if !nameRE.MatchString(name) {
			return nil, fmt.Errorf("node %q: want 1-16 lower-case letters, digits or dashes", name)
		}
		n := &Node{Name: name, Kind: fn.Kind, Image: fn.Image, Labels: fn.Labels, Cmd: fn.Cmd, Exec: fn.Exec, Sysctls: fn.Sysctls}
		if def, ok := f.Topology.Kinds[n.Kind]; ok && n.Image == "" {
			n.Image = def.Image
		}
		if n.Labels == nil {
			n.Labels = map[string]string{}
		}
		for _, b := range fn.Binds {
			host, ctr, ok := strings.Cut(b, ":")
			if !ok || host == "" || !strings.HasPrefix(ctr, "/") {
				return nil, fmt.Errorf("node %s: bind %q: want HOST:/CONTAINER", name, b)
			}
			ctr, _, _ = strings.Cut(ctr, ":") // drop ":ro"
			n.Binds = append(n.Binds, Bind{Host: host, Container: ctr})
		}
		for k, v := range n.Sysctls {
			if !sysctlRE.MatchString(k) || !sysctlRE.MatchString(v) {
				return nil, fmt.Errorf("node %s: sysctl %q=%q: want net.* keys and plain values", name, k, v)
			}
		}
		for _, e := range n.Exec {
			if !strings.HasPrefix(e, "ip ") {
				return nil, fmt.Errorf("node %s: exec %q: only ip commands are supported", name, e)
			}
		}
		t.Nodes[name] = n
	}
	seen := map[Endpoint]bool{}
	for i, l := range f.Topology.Links {
		if len(l.Endpoints) != 2 {
			return nil, fmt.Errorf("links[%d]: want two endpoints, have %d", i, len(l.Endpoints))
		}
		var eps [2]Endpoint
		for j, s := range l.Endpoints {
			node, iface, ok := strings.Cut(s, ":")
			if !ok || t.Nodes[node] == nil {
				return nil, fmt.Errorf("links[%d]: endpoint %q: want NODE:IFACE of a defined node", i, s)
			}
			if !nameRE.MatchString(iface) {
				return nil, fmt.Errorf("links[%d]: endpoint %q: bad interface name", i, s)
			}
			ep := Endpoint{node, iface}
			if seen[ep] {
				return nil, fmt.Errorf("links[%d]: endpoint %q used twice", i, s)
			}
			seen[ep] = true
			eps[j] = ep
		}
		t.Links = append(t.Links, Link{A: eps[0], B: eps[1]})
	}
	return t, nil
}

// Names returns the node names in order.
func (t *Topology) Names() []string {
	var names []string
	for n := range t.Nodes {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ByRole returns the nodes with the given role, by name.
func (t *Topology) ByRole(role string) []*Node {
	var out []*Node
	for _, name := range t.Names() {
		if n := t.Nodes[name]; n.Role() == role {
			out = append(out, n)
		}
	}
	return out
}

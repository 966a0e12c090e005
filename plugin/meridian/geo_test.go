package meridian

import (
	"testing"

	"github.com/meridian-traffic/meridian/geoip/geoiptest"
)

// writeGeoDB writes a small City database placing the client networks of
// testLocator and returns its path.
func writeGeoDB(t testing.TB) string {
	t.Helper()
	var entries []geoiptest.Entry
	for _, e := range testLocator {
		entries = append(entries, geoiptest.Entry{
			Network: e.net.String(), Lat: e.loc.Lat, Lon: e.loc.Lon, TimeZone: e.loc.TimeZone,
		})
	}
	return geoiptest.Path(t, entries...)
}

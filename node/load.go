package node

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// loadAvg returns the 1-minute load average from a /proc/loadavg file.
func loadAvg(file string) (float64, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, fmt.Errorf("load average: %w", err)
	}
	return parseLoadAvg(string(b))
}

// parseLoadAvg reads the first field of /proc/loadavg ("0.42 0.30 ...").
func parseLoadAvg(s string) (float64, error) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return 0, fmt.Errorf("load average: empty %q", s)
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("load average: bad value %q", f[0])
	}
	return v, nil
}

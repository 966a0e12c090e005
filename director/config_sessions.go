package director

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Session API defaults.
const (
	DefaultSessionTTL    = 2 * time.Minute
	DefaultSessionMaxAge = 12 * time.Hour
	DefaultSessionRate   = 10
	DefaultSessionBurst  = 20
	// maxSessionMaxAge is the relays' limit on how far in the future a
	// credential may expire (relay.DefaultMaxCredentialTTL).
	maxSessionMaxAge = 48 * time.Hour
)

// sessionDefaults fills and checks the session fields of Config.
func (c *Config) sessionDefaults() []error {
	var errs []error
	if c.SessionTTL == 0 {
		c.SessionTTL = DefaultSessionTTL
	}
	if c.SessionMaxAge == 0 {
		c.SessionMaxAge = DefaultSessionMaxAge
	}
	if c.SessionRate == 0 {
		c.SessionRate = DefaultSessionRate
	}
	if c.SessionBurst == 0 {
		c.SessionBurst = DefaultSessionBurst
	}
	if c.SessionTTL < time.Second {
		errs = append(errs, fmt.Errorf("session ttl %s: want at least 1s", c.SessionTTL))
	}
	if c.SessionMaxAge < c.SessionTTL || c.SessionMaxAge > maxSessionMaxAge {
		errs = append(errs, fmt.Errorf("session max age %s: want between the session ttl and %s", c.SessionMaxAge, maxSessionMaxAge))
	}
	if c.SessionRate < 0 || math.IsNaN(c.SessionRate) || math.IsInf(c.SessionRate, 0) || c.SessionBurst < 1 {
		errs = append(errs, errors.New("session rate limit: want a positive rate and burst"))
	}
	admin := map[string]string{}
	for _, a := range c.admins() {
		admin[a.Token] = a.Name
	}
	for i, t := range c.ClientTokens {
		if strings.TrimSpace(t) == "" {
			errs = append(errs, fmt.Errorf("client token %d is empty", i+1))
		} else if name, ok := admin[t]; ok {
			errs = append(errs, fmt.Errorf("client token %d equals the admin token of %s", i+1, name))
		}
	}
	return errs
}

// ParseClientTokens reads a client token file's contents (file names it in
// errors): one token per line; blank lines and lines starting with # are
// skipped. The caller reads the file as the secret it is.
func ParseClientTokens(file string, data []byte) ([]string, error) {
	var out []string
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, line)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("client tokens: %s holds no token", file)
	}
	return out, nil
}

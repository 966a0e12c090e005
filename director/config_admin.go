package director

import (
	"errors"
	"fmt"

	"github.com/meridian-traffic/meridian/cluster"
)

// adminName is the operator of Config.AdminToken, as of a token file's
// bare token.
const adminName = "admin"

// admins lists the operators' tokens: AdminTokens, and AdminToken as
// "admin".
func (c *Config) admins() []cluster.NamedToken {
	out := append([]cluster.NamedToken(nil), c.AdminTokens...)
	if c.AdminToken != "" {
		out = append(out, cluster.NamedToken{Name: adminName, Token: c.AdminToken})
	}
	return out
}

// adminDefaults checks the operators' tokens. Problems name the operator,
// never the token.
func (c *Config) adminDefaults() []error {
	admins := c.admins()
	if len(admins) == 0 {
		return []error{errors.New("an admin token is required")}
	}
	var errs []error
	names, tokens := map[string]bool{}, map[string]string{}
	for i, t := range admins {
		who := t.Name
		if who == "" {
			who = fmt.Sprintf("admin token %d", i+1)
			errs = append(errs, fmt.Errorf("%s has no operator name", who))
		}
		if err := cluster.CheckToken(t.Token); err != nil {
			errs = append(errs, fmt.Errorf("admin token of %s: %w", who, err))
		}
		if names[t.Name] && t.Name != "" {
			errs = append(errs, fmt.Errorf("admin token of %s: the name is used twice", who))
		}
		if prev, dup := tokens[t.Token]; dup {
			errs = append(errs, fmt.Errorf("admin token of %s: same token as %s", who, prev))
		}
		names[t.Name], tokens[t.Token] = true, who
	}
	return errs
}

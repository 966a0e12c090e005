package director

import "errors"

// errNoSite is logged while a director without a site file waits for one.
var errNoSite = errors.New("no site in the store and no site file given")

package director

import "errors"

// Sentinel errors; the admin API maps them to status codes.
var (
	errNoConfig  = errors.New("no site config stored")
	errNoVersion = errors.New("no such config version")
	errNoNode    = errors.New("no such node")
	errConflict  = errors.New("too many concurrent changes; try again")
	errNoSite    = errors.New("no site in the store and no site file given")
)

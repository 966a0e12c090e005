package store

import "errors"

// Sentinel errors; the admin API maps them to status codes.
var (
	ErrNoConfig  = errors.New("no site config stored")
	ErrNoVersion = errors.New("no such config version")
	ErrNoNode    = errors.New("no such node")
	ErrConflict  = errors.New("too many concurrent changes; try again")
)

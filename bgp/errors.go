package bgp

import "errors"

// Errors returned by New and by a Speaker; test them with errors.Is.
var (
	// ErrASN is returned for an ASN that is zero or reserved.
	ErrASN = errors.New("bgp: asn out of range")
	// ErrPrefix is returned for an anycast prefix that does not parse or is
	// not in canonical form.
	ErrPrefix = errors.New("bgp: bad prefix")
	// ErrOption is returned for an unknown or malformed option: a health
	// check kind, a community, a neighbor address, a router id.
	ErrOption = errors.New("bgp: bad option")
	// ErrPassword is returned when a neighbor's TCP MD5 password file cannot
	// be read or is unusable.
	ErrPassword = errors.New("bgp: password file")
	// ErrStopped is returned by requests to a speaker whose Run has ended.
	ErrStopped = errors.New("bgp: speaker stopped")
	// ErrRunning is returned by a second call to Run.
	ErrRunning = errors.New("bgp: speaker already running")
)

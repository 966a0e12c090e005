package relay

import "errors"

var (
	// ErrConfig is wrapped by every configuration error from New.
	ErrConfig = errors.New("invalid relay configuration")
	// ErrClosed is returned by Run on a relay that was already closed.
	ErrClosed = errors.New("relay closed")
	// ErrNodeQuota is returned by the allocator when the node holds
	// MaxAllocations allocations.
	ErrNodeQuota = errors.New("node allocation quota reached")
	// ErrUserQuota is returned by the allocator when a user holds
	// MaxAllocationsPerUser allocations.
	ErrUserQuota = errors.New("user allocation quota reached")
	// ErrNoPort is returned when no relay port in the range is free.
	ErrNoPort = errors.New("no free relay port")
	// ErrBadCredential is returned by ParseUsername for a username that is
	// not "EXPIRY:USER".
	ErrBadCredential = errors.New("malformed TURN REST username")
	// ErrListenerDown is wrapped by Relay.Serving's error when a listener
	// stopped serving while the relay runs.
	ErrListenerDown = errors.New("relay listener not serving")
	// ErrProbe is wrapped by every Probe failure.
	ErrProbe = errors.New("relay probe failed")
)

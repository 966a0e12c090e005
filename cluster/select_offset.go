package cluster

import (
	"fmt"
	"time"
)

// maxOffset bounds a parsed UTC offset: real offsets run from -12:00 to
// +14:00; ±18:00 is the widest ISO 8601 and java.time accept.
const maxOffset = 18 * time.Hour

// ParseOffset reads a UTC offset: "Z", or a sign followed by hours and
// optional minutes, as in "+02:00", "-0530", "+2", "+02".
func ParseOffset(s string) (time.Duration, error) {
	if s == "Z" || s == "z" {
		return 0, nil
	}
	if s == "" {
		return 0, fmt.Errorf("offset %q: empty", s)
	}
	var sign time.Duration
	switch s[0] {
	case '+':
		sign = 1
	case '-':
		sign = -1
	default:
		return 0, fmt.Errorf("offset %q: position 1: want '+', '-' or 'Z'", s)
	}
	i := 1
	h, n := digits(s[i:], 2)
	if n == 0 {
		return 0, fmt.Errorf("offset %q: position %d: want hours", s, i+1)
	}
	i += n
	m := 0
	if i < len(s) {
		if s[i] == ':' {
			i++
		}
		var k int
		m, k = digits(s[i:], 2)
		if k != 2 {
			return 0, fmt.Errorf("offset %q: position %d: want two digits of minutes", s, i+1)
		}
		i += k
		if m > 59 {
			return 0, fmt.Errorf("offset %q: position %d: minutes %d out of range 00-59", s, i-1, m)
		}
	}
	if i != len(s) {
		return 0, fmt.Errorf("offset %q: position %d: unexpected %q", s, i+1, s[i:])
	}
	d := sign * (time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
	if d > maxOffset || d < -maxOffset {
		return 0, fmt.Errorf("offset %q: beyond ±18:00", s)
	}
	return d, nil
}

// digits reads up to limit leading decimal digits of s.
func digits(s string, limit int) (v, n int) {
	for n < len(s) && n < limit && s[n] >= '0' && s[n] <= '9' {
		v = v*10 + int(s[n]-'0')
		n++
	}
	return v, n
}

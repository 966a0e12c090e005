package cluster

import (
	"fmt"
	"net"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// A rule check reads a built value (a HealthCheck, a node's BGP block) and
// reports what is wrong with it through an addFunc, naming the field by its
// path below the checked value ("neighbors[1].asn"). The same rule serves
// Parse, which turns the path into file:line:col, and the exported
// validators for values built by hand (ValidateBGP), so a rule is written
// once.
type addFunc func(field, format string, args ...any)

// rules runs check on a value built from raw (a pointer to a raw struct)
// and reports its problems under base with their positions in the file. A
// problem on a field that already has one is dropped: a value that did not
// parse is not reported again for breaking a rule. keep, when not nil,
// drops the problems it refuses.
func (c *checker) rules(base string, raw any, fallback pos, keep func(field string) bool, check func(add addFunc)) {
	check(func(field, format string, args ...any) {
		full := joinField(base, field)
		if c.reported[full] || keep != nil && !keep(field) {
			return
		}
		c.add(rawPos(raw, field, fallback), full, format, args...)
	})
}

var posType = reflect.TypeOf(pos{})

// rawPos finds where field (a path such as bgp.neighbors[1].asn) stands in
// raw. A field absent from the file falls back to its nearest present
// parent, then to def.
func rawPos(raw any, field string, def pos) pos {
	best := def
	v := reflect.ValueOf(raw)
	note := func(v reflect.Value) {
		if p, ok := posOf(v); ok {
			best = p
		}
	}
	for _, seg := range strings.Split(field, ".") {
		if seg == "" {
			break
		}
		for v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return best
			}
			v = v.Elem()
		}
		if v.Kind() != reflect.Struct {
			return best
		}
		note(v)
		name, index, hasIndex := strings.Cut(seg, "[")
		f, ok := yamlFields(v.Type())[name]
		if !ok {
			return best
		}
		v = v.FieldByIndex(f.Index)
		if hasIndex {
			i, err := strconv.Atoi(strings.TrimSuffix(index, "]"))
			if err != nil || v.Kind() != reflect.Slice || i < 0 || i >= v.Len() {
				return best
			}
			v = v.Index(i)
		}
	}
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return best
		}
		v = v.Elem()
	}
	note(v)
	return best
}

// posOf returns the position a raw value recorded: a val's p or a raw
// struct's at, when the file holds it.
func posOf(v reflect.Value) (pos, bool) {
	if v.Kind() != reflect.Struct {
		return pos{}, false
	}
	for _, name := range []string{"p", "at"} {
		f := v.FieldByName(name)
		if f.IsValid() && f.Type() == posType {
			p := pos{int(f.Field(0).Int()), int(f.Field(1).Int())}
			return p, p != pos{}
		}
	}
	return pos{}, false
}

// Least values of durations.
const (
	minHealthInterval = 10 * time.Millisecond
	minHealthTimeout  = time.Millisecond
	minConnectRetry   = time.Second
)

// healthRules are the rules of a health check.
func healthRules(h *HealthCheck, add addFunc) {
	if !contains(healthKinds, h.Kind) {
		add("kind", "%q: want one of %s", h.Kind, list(healthKinds))
	}
	if h.Target != "" {
		if _, _, err := net.SplitHostPort(h.Target); err != nil {
			add("target", "%q: want host:port", h.Target)
		}
	}
	if !strings.HasPrefix(h.Path, "/") {
		add("path", "%q: want an absolute path", h.Path)
	}
	intRule(add, "expect", h.Expect, 100, 599)
	durRule(add, "interval", h.Interval, minHealthInterval)
	if h.Timeout < Duration(minHealthTimeout) {
		durRule(add, "timeout", h.Timeout, minHealthTimeout)
	} else if h.Timeout > h.Interval {
		add("timeout", "%s is longer than the interval %s", h.Timeout.D(), h.Interval.D())
	}
	intRule(add, "rise", h.Rise, 1, 100)
	intRule(add, "fall", h.Fall, 1, 100)
}

func intRule(add addFunc, field string, n, lo, hi int) {
	if n < lo || n > hi {
		add(field, "%d is out of range %d-%d", n, lo, hi)
	}
}

func durRule(add addFunc, field string, d Duration, least time.Duration) {
	if d.D() < least {
		add(field, "%s is shorter than the least allowed %s", d.D(), least)
	}
}

// under returns an addFunc that reports below prefix.
func under(add addFunc, prefix string) addFunc {
	return func(field, format string, args ...any) { add(joinField(prefix, field), format, args...) }
}

// joinField joins a field path below base; an empty field is base itself.
func joinField(base, field string) string {
	if field == "" {
		return base
	}
	return join(base, field)
}

// collect runs check and returns its problems as a *ValidationError
// without file positions, or nil.
func collect(check func(add addFunc)) error {
	var errs []FieldError
	check(func(field, format string, args ...any) {
		errs = append(errs, FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	})
	if len(errs) == 0 {
		return nil
	}
	return &ValidationError{Errors: errs}
}

package client

import (
	"errors"
	"fmt"
	"strings"

	"github.com/meridian-traffic/meridian/api"
	"github.com/meridian-traffic/meridian/cluster"
)

var (
	// ErrRemoved is returned when the director answers 410 Gone: the
	// subscriber's node was removed from the site.
	ErrRemoved = errors.New("node removed from the site")
	// ErrNoSnapshot is returned by Subscriber methods that need a snapshot
	// before one was verified.
	ErrNoSnapshot = errors.New("no verified snapshot yet")
)

// APIError is a non-2xx answer of the director: its status and the decoded
// api.Error body (with the config validation problems in Fields).
type APIError struct {
	Status  int                  // HTTP status code
	Path    string               // request path, without query
	Message string               // api.Error.Error
	Fields  []cluster.FieldError // api.Error.Fields: config validation problems
}

// Body returns the answer as the api.Error it came as.
func (e *APIError) Body() api.Error { return api.Error{Error: e.Message, Fields: e.Fields} }

func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = "no error message"
	}
	s := fmt.Sprintf("director %s: %d: %s", e.Path, e.Status, msg)
	switch n := len(e.Fields); {
	case n == 1:
		s += " (1 problem)"
	case n > 1:
		s += fmt.Sprintf(" (%d problems)", n)
	}
	return s
}

// Lines returns the error as one summary line followed by one line per
// field problem ("file:line:col: field: message").
func (e *APIError) Lines() []string {
	lines := []string{e.Error()}
	for _, f := range e.Fields {
		lines = append(lines, f.Error())
	}
	return lines
}

// IsStatus reports whether err is an *APIError with the given status.
func IsStatus(err error, status int) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == status
}

// excerpt returns the first line of a non-JSON error body, cut short, so a
// proxy's HTML page does not flood an error message.
func excerpt(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	const max = 200
	if len(s) > max {
		s = s[:max] + "..."
	}
	return s
}

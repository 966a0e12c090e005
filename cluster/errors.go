package cluster

import (
	"errors"
	"fmt"
	"strings"
)

var (
	errNotScalar = errors.New("expected a single value")
	errWrongType = errors.New("value has the wrong type")

	// ErrBadSignature is returned for a snapshot or request whose MAC does
	// not verify under the site's key.
	ErrBadSignature = errors.New("signature does not verify")
	// ErrUnsigned is returned for a snapshot that carries no signature.
	ErrUnsigned = errors.New("snapshot is not signed")
	// ErrForeignSite is returned for a snapshot of another site.
	ErrForeignSite = errors.New("snapshot belongs to another site")
	// ErrStale is returned for a snapshot older than the one held.
	ErrStale = errors.New("snapshot is older than the one held")
	// ErrFormat is returned for a snapshot of an unknown format version.
	ErrFormat = errors.New("unknown snapshot format")
)

// FieldError is one problem in a site file: where it is and what is wrong.
type FieldError struct {
	File  string
	Line  int
	Col   int
	Field string // path such as nodes[2].prefixes[0]
	Msg   string
}

func (e FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Col)
	}
	if b.Len() > 0 { // a value built by hand has no file
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ValidationError is every problem found in one site file, in file order.
type ValidationError struct {
	Errors []FieldError
	// Total counts every problem found; past MaxProblems only the first
	// are listed. Zero means len(Errors).
	Total int
}

func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Errors), len(e.Errors)+1)
	for i, fe := range e.Errors {
		lines[i] = fe.Error()
	}
	if e.Total > len(e.Errors) {
		lines = append(lines, fmt.Sprintf("... and %d more problems (%d in all)", e.Total-len(e.Errors), e.Total))
	}
	return strings.Join(lines, "\n")
}

// Count is the number of problems found, listed or not.
func (e *ValidationError) Count() int { return max(e.Total, len(e.Errors)) }

// Summary counts the problems in words: "1 problem", "3 problems",
// "140 problems, the first 100 listed".
func (e *ValidationError) Summary() string {
	n := e.Count()
	s := fmt.Sprintf("%d problems", n)
	if n == 1 {
		s = "1 problem"
	}
	if n > len(e.Errors) {
		s += fmt.Sprintf(", the first %d listed", len(e.Errors))
	}
	return s
}

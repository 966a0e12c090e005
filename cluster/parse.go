package cluster

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v4"
)

// Parse reads and validates one site file. file names the source in error
// messages. On any problem it returns a *ValidationError listing every
// problem found, each with file, line, column and field path.
func Parse(file string, data []byte) (*Site, error) {
	c := &checker{file: file}
	if len(data) > MaxSiteFile {
		c.add(pos{}, "", "site file is %d bytes, more than the limit of %d (%d KiB)", len(data), MaxSiteFile, MaxSiteFile>>10)
		return nil, c.result()
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		c.addYAML(err)
		return nil, c.result()
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		c.add(pos{}, "", "empty site file")
		return nil, c.result()
	}
	root := doc.Content[0]
	c.walk(root, reflect.TypeOf(rawSite{}), "")
	if len(c.errs) > 0 {
		// The shape is wrong: decoding would only repeat the same problems.
		return nil, c.result()
	}
	var raw rawSite
	if err := root.Decode(&raw); err != nil {
		c.addYAML(err)
		return nil, c.result()
	}
	site := c.site(&raw)
	if err := c.result(); err != nil {
		return nil, err
	}
	return site, nil
}

// Bounds on hostile input: a site file is read whole by every director,
// and its problems travel back to the operator in one answer.
const (
	// MaxSiteFile is the largest site file accepted, in bytes.
	MaxSiteFile = 256 << 10
	// MaxProblems is how many problems one validation reports; the total
	// is counted beyond it.
	MaxProblems = 100
	// maxWalk bounds the YAML nodes the shape check visits, aliases
	// expanded: a file of the largest size without aliases has fewer, and
	// nested aliases could otherwise make it exponential.
	maxWalk = 200_000
)

// checker collects problems while the raw file is turned into a Site.
type checker struct {
	file     string
	errs     []FieldError
	total    int             // problems found, listed or not
	visits   int             // walk budget spent
	reported map[string]bool // field paths with a problem
}

func (c *checker) add(p pos, field, format string, args ...any) {
	if c.reported == nil {
		c.reported = map[string]bool{}
	}
	c.reported[field] = true
	c.total++
	if len(c.errs) >= MaxProblems {
		return
	}
	c.errs = append(c.errs, FieldError{File: c.file, Line: p.line, Col: p.col, Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (c *checker) result() error {
	if len(c.errs) == 0 {
		return nil
	}
	return &ValidationError{Errors: c.errs, Total: c.total}
}

var leafType = reflect.TypeOf((*leaf)(nil)).Elem()

// walk checks the keys and the shape of the YAML tree against the raw types:
// unknown and duplicate keys, a list where a mapping belongs and so on.
func (c *checker) walk(n *yaml.Node, t reflect.Type, path string) {
	if c.visits++; c.visits == maxWalk {
		c.add(pos{n.Line, n.Column}, path, "the file expands to more than %d YAML nodes (aliases?)", maxWalk)
	}
	if c.visits >= maxWalk {
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if reflect.PointerTo(t).Implements(leafType) || isNull(n) {
		return // scalars are checked with their values
	}
	at := pos{n.Line, n.Column}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			c.add(at, path, "expected a mapping of fields")
			return
		}
		fields := yamlFields(t)
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			kp := pos{k.Line, k.Column}
			sub := join(path, k.Value)
			f, ok := fields[k.Value]
			switch {
			case !ok:
				c.add(kp, sub, "unknown field")
				continue
			case seen[k.Value]:
				c.add(kp, sub, "field given twice")
				continue
			}
			seen[k.Value] = true
			c.walk(v, f.Type, sub)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			c.add(at, path, "expected a list")
			return
		}
		for i, e := range n.Content {
			c.walk(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func yamlFields(t reflect.Type) map[string]reflect.StructField {
	m := map[string]reflect.StructField{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); name != "" && name != "-" {
			m[name] = f
		}
	}
	return m
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// addYAML adds the YAML library's errors at the position of the offending
// token, with a hint naming the construct left open where that helps.
func (c *checker) addYAML(err error) {
	var les *yaml.LoadErrors
	if errors.As(err, &les) && len(les.Errors) > 0 {
		for _, le := range les.Errors {
			c.addLoadError(le)
		}
		return
	}
	var le *yaml.LoadError
	if errors.As(err, &le) {
		c.addLoadError(le)
		return
	}
	c.add(pos{}, "", "%s", strings.TrimPrefix(err.Error(), "yaml: "))
}

func (c *checker) addLoadError(le *yaml.LoadError) {
	msg := le.Message
	if h := yamlHint(le); h != "" {
		msg += " (" + h + ")"
	}
	c.add(pos{le.Mark.Line, le.Mark.Column}, "", "%s", msg)
}

// yamlHint explains a syntax error in terms of the file: which construct
// that started earlier is still open, or what a tab does to indentation.
func yamlHint(le *yaml.LoadError) string {
	ctx := le.ContextMark
	at := fmt.Sprintf("%d:%d", ctx.Line, ctx.Column)
	switch {
	case strings.Contains(le.Message, "tab"), strings.Contains(le.Message, "cannot start any token"):
		return "indent with spaces: YAML does not allow tabs in indentation"
	case ctx.Line == 0 || ctx == le.Mark:
		return ""
	case strings.Contains(le.ContextMsg, "quoted scalar"):
		return "the quote opened at " + at + " is not closed"
	case strings.Contains(le.ContextMsg, "flow sequence"):
		return "the [ opened at " + at + " is not closed"
	case strings.Contains(le.ContextMsg, "flow mapping"):
		return "the { opened at " + at + " is not closed"
	case strings.Contains(le.ContextMsg, "block"):
		return "check the indentation: this line does not line up with the block that starts at " + at
	case le.ContextMsg != "":
		return le.ContextMsg + " at " + at
	}
	return ""
}

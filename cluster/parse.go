package cluster

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Parse reads and validates one site file. file names the source in error
// messages. On any problem it returns a *ValidationError listing every
// problem found, each with file, line, column and field path.
func Parse(file string, data []byte) (*Site, error) {
	c := &checker{file: file}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		c.add(yamlErrPos(err), "", "%s", strings.TrimPrefix(yamlErrMsg(err), "yaml: "))
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
		c.add(yamlErrPos(err), "", "%s", yamlErrMsg(err))
		return nil, c.result()
	}
	site := c.site(&raw)
	if err := c.result(); err != nil {
		return nil, err
	}
	return site, nil
}

// checker collects problems while the raw file is turned into a Site.
type checker struct {
	file     string
	errs     []FieldError
	reported map[string]bool // field paths with a problem
}

func (c *checker) add(p pos, field, format string, args ...any) {
	if c.reported == nil {
		c.reported = map[string]bool{}
	}
	c.reported[field] = true
	c.errs = append(c.errs, FieldError{File: c.file, Line: p.line, Col: p.col, Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (c *checker) result() error {
	if len(c.errs) == 0 {
		return nil
	}
	return &ValidationError{Errors: c.errs}
}

var leafType = reflect.TypeOf((*leaf)(nil)).Elem()

// walk checks the keys and the shape of the YAML tree against the raw types:
// unknown and duplicate keys, a list where a mapping belongs and so on.
func (c *checker) walk(n *yaml.Node, t reflect.Type, path string) {
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

var yamlLine = regexp.MustCompile(`line (\d+)`)

// yamlErrPos finds the line yaml.v3 names in its error text; it offers no
// structured position.
func yamlErrPos(err error) pos {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return pos{line: n, col: 1}
	}
	return pos{}
}

func yamlErrMsg(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return strings.Join(te.Errors, "; ")
	}
	return err.Error()
}

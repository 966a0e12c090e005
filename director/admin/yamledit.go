package admin

import (
	"bytes"
	"fmt"

	"go.yaml.in/yaml/v4"

	"github.com/meridian-traffic/meridian/director/store"
)

// removeNodeYAML drops the named node from a site file. It edits the
// yaml.v3 node tree rather than re-encoding the Site, so the operator's
// comments and layout of everything else survive.
func removeNodeYAML(text []byte, name string) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(text, &doc); err != nil {
		return nil, fmt.Errorf("read site file: %w", err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("site file: %w", store.ErrNoConfig)
	}
	root := doc.Content[0]
	var nodes *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "nodes" {
			nodes = root.Content[i+1]
		}
	}
	if nodes == nil || nodes.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("node %q: %w", name, store.ErrNoNode)
	}
	for i, n := range nodes.Content {
		if n.Kind != yaml.MappingNode || mapValue(n, "name") != name {
			continue
		}
		// A comment above the first item belongs to the list, not to the
		// node: keep it on the next item.
		if i == 0 && len(nodes.Content) > 1 && n.HeadComment != "" && nodes.Content[1].HeadComment == "" {
			nodes.Content[1].HeadComment = n.HeadComment
		}
		nodes.Content = append(nodes.Content[:i:i], nodes.Content[i+1:]...)
		var out bytes.Buffer
		enc := yaml.NewEncoder(&out)
		enc.SetIndent(2)
		if err := enc.Encode(&doc); err != nil {
			return nil, fmt.Errorf("write site file: %w", err)
		}
		if err := enc.Close(); err != nil {
			return nil, fmt.Errorf("write site file: %w", err)
		}
		return out.Bytes(), nil
	}
	return nil, fmt.Errorf("node %q: %w", name, store.ErrNoNode)
}

func mapValue(m *yaml.Node, key string) string {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1].Value
		}
	}
	return ""
}

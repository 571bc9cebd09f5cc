// Package yamlpos is what the YAML languages of Watchfloor (rules, routing) share to tell a
// human where a problem is: an error positioned by file, line, column and YAML path, and
// the words for what a node is.
package yamlpos

import (
	"fmt"

	"go.yaml.in/yaml/v3"
)

// Error is one problem, printed as `FILE:LINE:COL: FIELD: MSG`. Field is the YAML path of
// what is wrong (detection.selection.dst_ip|cidr, route.routes[1].matchers[0]) or empty.
type Error struct {
	File   string
	Line   int
	Column int
	Field  string
	Msg    string
}

func (e Error) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s: %s", e.File, e.Line, e.Column, e.Field, e.Msg)
}

// Join appends a key to a YAML path.
func Join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Describe says what a node is, for "want a mapping, not …" messages.
func Describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "null"
		}
		return fmt.Sprintf("%q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "a document"
}

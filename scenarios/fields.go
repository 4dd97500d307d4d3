package scenarios

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"github.com/certwave/certwave/topology"
)

// inlinePath is the path of the inventory a scenario writes out. The
// harness decodes that section as JSON into topology.Inventory, which
// would drop a misspelt field silently and rehearse a different topology.
// So its keys are checked against the inventory's JSON field names, and
// its values against their types.
const inlinePath = "topology.inline"

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
	yamlUnmarshaler = reflect.TypeFor[yaml.Unmarshaler]()
)

// checkFields reports every key of the file that the schema does not
// have, with its line, so that one run lists all of them. In the inline
// inventory it also checks the values' types; elsewhere the YAML decoder
// does.
func (v *validator) checkFields(root *yaml.Node) {
	v.checkValue(root, reflect.TypeFor[Scenario](), "", "yaml")
}

// checkValue checks node against t, whose fields are named by the struct
// tag key ("yaml" in the scenario schema, "json" in the inline inventory).
func (v *validator) checkValue(node *yaml.Node, t reflect.Type, path, key string) {
	if node.Kind == yaml.AliasNode {
		node = node.Alias
	}
	if node.Kind == yaml.ScalarNode && node.Tag == "!!null" {
		return
	}
	if path == inlinePath {
		t, key = reflect.TypeFor[topology.Inventory](), "json"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	p := reflect.PointerTo(t)
	if p.Implements(jsonUnmarshaler) || p.Implements(textUnmarshaler) || p.Implements(yamlUnmarshaler) {
		return // decoded and checked by the type itself, such as a time
	}
	typed := key == "json"
	switch t.Kind() {
	case reflect.Struct:
		if node.Kind != yaml.MappingNode {
			v.failAt(node, path, "invalid value: want a mapping of fields")
			return
		}
		fields := taggedFields(t, key)
		for i := 0; i+1 < len(node.Content); i += 2 {
			name, value := node.Content[i], node.Content[i+1]
			ft, ok := fields[name.Value]
			if !ok {
				v.failAt(name, join(path, name.Value), unknownFieldMessage(name.Value, fields))
				continue
			}
			v.checkValue(value, ft, join(path, name.Value), key)
		}
	case reflect.Slice:
		if node.Kind != yaml.SequenceNode {
			if typed {
				v.failAt(node, path, "invalid value: want a list")
			}
			return
		}
		for i, item := range node.Content {
			v.checkValue(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i), key)
		}
	case reflect.Map:
		if node.Kind != yaml.MappingNode {
			if typed {
				v.failAt(node, path, "invalid value: want a mapping")
			}
			return
		}
		for i := 0; i+1 < len(node.Content); i += 2 {
			v.checkValue(node.Content[i+1], t.Elem(), join(path, node.Content[i].Value), key)
		}
	case reflect.String:
		if typed {
			v.wantScalar(node, path, "a string", "!!str")
		}
	case reflect.Bool:
		if typed {
			v.wantScalar(node, path, "true or false", "!!bool")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		want := "a whole number"
		if t == reflect.TypeFor[time.Duration]() {
			want = "a whole number of nanoseconds, as in the inventory's JSON"
		}
		if typed {
			v.wantScalar(node, path, want, "!!int")
		}
	case reflect.Float32, reflect.Float64:
		if typed {
			v.wantScalar(node, path, "a number", "!!int", "!!float")
		}
	}
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// unknownFieldMessage names the fields a mapping may have, and the one
// that differs from name only in case or by one edit, when there is one.
func unknownFieldMessage(name string, fields map[string]reflect.Type) string {
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	slices.Sort(names)
	msg := "unknown field"
	for _, k := range names {
		if strings.EqualFold(k, name) || editDistance(k, name) == 1 {
			msg += fmt.Sprintf(" (did you mean %s?)", k)
			break
		}
	}
	return msg + "; use one of " + strings.Join(names, ", ")
}

// editDistance returns the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// wantScalar fails unless node is a scalar with one of the tags.
func (v *validator) wantScalar(node *yaml.Node, path, want string, tags ...string) {
	if node.Kind == yaml.ScalarNode && slices.Contains(tags, node.ShortTag()) {
		return
	}
	v.failAt(node, path, fmt.Sprintf("invalid value %q: want %s", node.Value, want))
}

// failAt records an error at the node's line.
func (v *validator) failAt(node *yaml.Node, path, msg string) {
	v.errs = append(v.errs, fieldError{line: node.Line, field: path, msg: msg}.String())
}

// taggedFields maps the names a struct's fields have under the tag key,
// those of embedded structs included, to their types.
func taggedFields(t reflect.Type, key string) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get(key), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			for k, ft := range taggedFields(f.Type, key) {
				out[k] = ft
			}
			continue
		}
		if name == "" {
			if key == "yaml" {
				name = strings.ToLower(f.Name)
			} else {
				name = f.Name
			}
		}
		out[name] = f.Type
	}
	return out
}

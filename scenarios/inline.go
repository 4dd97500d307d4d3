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

// checkInline checks an inline topology against topology.Inventory: every
// key must name a field by its JSON name, and every value must have the
// field's shape. The harness decodes the section as JSON, which would drop
// a misspelt field silently and rehearse a different topology.
func (v *validator) checkInline(node *yaml.Node) {
	v.checkValue(node, reflect.TypeFor[topology.Inventory](), "topology.inline")
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

func (v *validator) checkValue(node *yaml.Node, t reflect.Type, path string) {
	if node.Kind == yaml.AliasNode {
		node = node.Alias
	}
	if node.Kind == yaml.ScalarNode && node.Tag == "!!null" {
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return // decoded by the type itself, such as a time
	}
	switch t.Kind() {
	case reflect.Struct:
		if node.Kind != yaml.MappingNode {
			v.failAt(node, path, "want a mapping of fields")
			return
		}
		fields := jsonFields(t)
		for i := 0; i+1 < len(node.Content); i += 2 {
			key, value := node.Content[i], node.Content[i+1]
			ft, ok := fields[key.Value]
			if !ok {
				v.failAt(key, path+"."+key.Value, fmt.Sprintf("unknown field %s in %s; the fields are %s", key.Value, path, strings.Join(sortedKeys(fields), ", ")))
				continue
			}
			v.checkValue(value, ft, path+"."+key.Value)
		}
	case reflect.Slice:
		if node.Kind != yaml.SequenceNode {
			v.failAt(node, path, "want a list")
			return
		}
		for i, item := range node.Content {
			v.checkValue(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Map:
		if node.Kind != yaml.MappingNode {
			v.failAt(node, path, "want a mapping")
			return
		}
		for i := 0; i+1 < len(node.Content); i += 2 {
			v.checkValue(node.Content[i+1], t.Elem(), path+"."+node.Content[i].Value)
		}
	case reflect.String:
		v.wantScalar(node, path, "a string", "!!str")
	case reflect.Bool:
		v.wantScalar(node, path, "true or false", "!!bool")
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		want := "a whole number"
		if t == reflect.TypeFor[time.Duration]() {
			want = "a whole number of nanoseconds, as in the inventory's JSON"
		}
		v.wantScalar(node, path, want, "!!int")
	case reflect.Float32, reflect.Float64:
		v.wantScalar(node, path, "a number", "!!int", "!!float")
	}
}

// wantScalar fails unless node is a scalar with one of the tags.
func (v *validator) wantScalar(node *yaml.Node, path, want string, tags ...string) {
	if node.Kind == yaml.ScalarNode {
		for _, tag := range tags {
			if node.ShortTag() == tag {
				return
			}
		}
	}
	v.failAt(node, path, fmt.Sprintf("invalid value %q: want %s", node.Value, want))
}

// failAt records an error at the node's line.
func (v *validator) failAt(node *yaml.Node, path, msg string) {
	v.errs = append(v.errs, fieldError{line: node.Line, field: path, msg: msg}.String())
}

// jsonFields maps the JSON names of a struct's fields, those of embedded
// structs included, to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			for k, ft := range jsonFields(f.Type) {
				out[k] = ft
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

func sortedKeys(m map[string]reflect.Type) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

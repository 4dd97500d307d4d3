package engine

import (
	"encoding/json"
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/runtime"
)

// Helpers on objects held as JSON maps, used to predict the effect of a
// change for the dry run.

// toMap returns v (an apply configuration or a patch body) as a JSON map.
func toMap(v any) (map[string]any, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	return m, nil
}

func copyMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	return runtime.DeepCopyJSON(m)
}

// child returns m[key] as a map, creating it when missing.
func child(m map[string]any, key string) map[string]any {
	c, ok := m[key].(map[string]any)
	if !ok {
		c = map[string]any{}
		m[key] = c
	}
	return c
}

// nested returns the map at path, or nil.
func nested(m map[string]any, path ...string) map[string]any {
	for _, k := range path {
		next, ok := m[k].(map[string]any)
		if !ok {
			return nil
		}
		m = next
	}
	return m
}

// deepMerge merges src into dst: maps merge key by key, anything else
// (lists included) replaces. It predicts an apply that creates an object or
// sets fields no other manager owns.
func deepMerge(dst, src map[string]any) map[string]any {
	if dst == nil {
		dst = map[string]any{}
	}
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				dst[k] = deepMerge(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
	return dst
}

// mergePatch applies a JSON merge patch (RFC 7386) to target.
func mergePatch(target, patch map[string]any) map[string]any {
	if target == nil {
		target = map[string]any{}
	}
	for k, v := range patch {
		switch pv := v.(type) {
		case nil:
			delete(target, k)
		case map[string]any:
			tm, _ := target[k].(map[string]any)
			target[k] = mergePatch(tm, pv)
		default:
			target[k] = v
		}
	}
	return target
}

// listenerIndex returns the position of listener name in a Gateway map, or
// -1.
func listenerIndex(gateway map[string]any, name string) int {
	listeners, _ := nested(gateway, "spec")["listeners"].([]any)
	for i, l := range listeners {
		if m, ok := l.(map[string]any); ok && m["name"] == name {
			return i
		}
	}
	return -1
}

// setListeners removes the listeners named in drop and inserts or replaces
// each of upsert by name, keeping the order of those already present.
func setListeners(gateway map[string]any, drop []string, upsert []map[string]any) error {
	spec := child(gateway, "spec")
	current, _ := spec["listeners"].([]any)
	var out []any
	for _, l := range current {
		m, ok := l.(map[string]any)
		if !ok {
			return fmt.Errorf("invalid listener %v", l)
		}
		name, _ := m["name"].(string)
		if slices.Contains(drop, name) {
			continue
		}
		out = append(out, m)
	}
	for _, u := range upsert {
		replaced := false
		for i, l := range out {
			if l.(map[string]any)["name"] == u["name"] {
				out[i], replaced = u, true
			}
		}
		if !replaced {
			out = append(out, u)
		}
	}
	spec["listeners"] = out
	return nil
}

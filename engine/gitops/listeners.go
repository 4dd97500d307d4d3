package gitops

import (
	"fmt"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/certwave/certwave/plan"
	"github.com/certwave/certwave/topology"
)

// blockSeq returns n when it is a block sequence, else an error naming
// field and its place.
func blockSeq(m match, n *yaml.Node, field string) (*yaml.Node, error) {
	switch {
	case n == nil:
		return nil, fmt.Errorf("%s: %s is missing", m.where(), field)
	case n.Kind == yaml.AliasNode:
		return nil, fmt.Errorf("%s:%d: %s is an alias of an anchor; edit it by hand", m.file.path, n.Line, field)
	case n.Kind != yaml.SequenceNode:
		return nil, fmt.Errorf("%s:%d: %s is not a list", m.file.path, n.Line, field)
	case n.Style&yaml.FlowStyle != 0:
		return nil, fmt.Errorf("%s:%d: %s is a flow-style list ([...]); rewrite it in block style to let certwave edit it", m.file.path, n.Line, field)
	}
	return n, nil
}

// AddListener adds listener l to spec.listeners of gateway
// (namespace/name), before the first existing listener whose name sorts
// after l.Name, without moving the others. A listener of that name with
// the same hostname is left as it is, so repeating the step is harmless.
func (r *Repo) AddListener(gateway string, l plan.ListenerSpec) error {
	if l.Name == "" {
		return fmt.Errorf("add listener to Gateway %s: the listener has no name", gateway)
	}
	m, err := r.lookup("Gateway", gateway)
	if err != nil {
		return err
	}
	f, d := m.file, m.doc
	listeners, err := blockSeq(m, get(get(d.root, "spec"), "listeners"), "spec.listeners of Gateway "+gateway)
	if err != nil {
		return err
	}
	if len(listeners.Content) == 0 {
		return fmt.Errorf("%s: spec.listeners of Gateway %s is empty", m.where(), gateway)
	}
	hostname := r.templated(l.Hostname)
	pos := len(listeners.Content)
	for i, item := range listeners.Content {
		name := scalar(get(item, "name"))
		if name == l.Name {
			if scalar(get(item, "hostname")) == hostname {
				return nil
			}
			return fmt.Errorf("%s:%d: Gateway %s already has a listener %s with hostname %q, not %q", f.path, item.Line, gateway, l.Name, scalar(get(item, "hostname")), hostname)
		}
		if name > l.Name && pos == len(listeners.Content) {
			pos = i
		}
	}

	node := r.listenerNode(l)
	dash, err := dashColumn(f, listeners.Content[0])
	if err != nil {
		return err
	}
	lines, err := renderItem(node, dash, indentStep(d))
	if err != nil {
		return err
	}
	var at int
	if pos < len(listeners.Content) {
		at, _ = lineSpan(f, d, listeners.Content[pos])
		// Keep the comment lines above the next listener with it.
		for at-1 > d.first && strings.HasPrefix(strings.TrimSpace(f.lines[at-1]), "#") {
			at--
		}
	} else {
		_, at = lineSpan(f, d, listeners.Content[pos-1])
		// Comment lines indented past the dash, such as a commented-out
		// field, belong to the last listener and stay with it.
		for at <= d.last && commentIndentedPast(f.lines[at], dash) {
			at++
		}
	}
	listeners.Content = append(listeners.Content[:pos], append([]*yaml.Node{node}, listeners.Content[pos:]...)...)
	return apply(f, d, false, []splice{{from: at, to: at, lines: lines}})
}

func commentIndentedPast(line string, column int) bool {
	trimmed := strings.TrimLeft(line, " ")
	return strings.HasPrefix(trimmed, "#") && len(line)-len(trimmed) > column
}

// listenerNode builds the manifest of a per-host listener. Protocol and
// port default to HTTPS and 443.
func (r *Repo) listenerNode(l plan.ListenerSpec) *yaml.Node {
	protocol, port := l.Protocol, l.Port
	if protocol == "" {
		protocol = topology.ProtocolHTTPS
	}
	if port == 0 {
		port = 443
	}
	n := &yaml.Node{Kind: yaml.MappingNode}
	add := func(key string, value *yaml.Node) { n.Content = append(n.Content, strNode(key), value) }
	add("name", strNode(l.Name))
	if l.Hostname != "" {
		add("hostname", r.templatedNode(l.Hostname))
	}
	add("protocol", strNode(protocol))
	add("port", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(int(port))})
	if l.AllowedNamespaces != "" {
		add("allowedRoutes", mapping("namespaces", mapping("from", strNode(l.AllowedNamespaces))))
	}
	if l.SecretName != "" && (protocol == topology.ProtocolHTTPS || protocol == topology.ProtocolTLS) {
		ref := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
			strNode("kind"), strNode("Secret"), strNode("name"), r.templatedNode(l.SecretName)}}
		add("tls", mapping("certificateRefs", &yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{ref}}))
	}
	return n
}

// templatedNode returns a string node for s with variable values written
// as ${VAR}, double-quoted when it contains a variable, as the manifests
// of Flux trees usually quote them.
func (r *Repo) templatedNode(s string) *yaml.Node {
	n := strNode(r.templated(s))
	if strings.Contains(n.Value, "${") {
		n.Style = yaml.DoubleQuotedStyle
	}
	return n
}

func mapping(key string, value *yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{strNode(key), value}}
}

// RemoveListener removes listener name from gateway (namespace/name). A
// listener already gone is not an error.
func (r *Repo) RemoveListener(gateway, name string) error {
	m, err := r.lookup("Gateway", gateway)
	if err != nil {
		return err
	}
	f, d := m.file, m.doc
	listeners, err := blockSeq(m, get(get(d.root, "spec"), "listeners"), "spec.listeners of Gateway "+gateway)
	if err != nil {
		return err
	}
	for i, item := range listeners.Content {
		if scalar(get(item, "name")) != name {
			continue
		}
		if len(listeners.Content) == 1 {
			return fmt.Errorf("%s:%d: listener %s is the only listener of Gateway %s, which needs at least one", f.path, item.Line, name, gateway)
		}
		from, to := lineSpan(f, d, item)
		listeners.Content = append(listeners.Content[:i], listeners.Content[i+1:]...)
		return apply(f, d, false, []splice{{from: from, to: to}})
	}
	return nil
}

package gitops

import (
	"fmt"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// FlipRoute moves route (namespace/name) from listener from to listener to
// of gateway: every parentRef to the Gateway with sectionName from gets
// sectionName to. An empty from matches a parentRef without sectionName,
// and an empty to removes sectionName. The route is a plain HTTPRoute
// manifest or an entry of spec.values.route in an app-template
// HelmRelease. A route already on to is left as it is.
func (r *Repo) FlipRoute(route, gateway, from, to string) (err error) {
	m, holder, err := r.lookupRoute(route)
	if err != nil {
		return err
	}
	defer reparseOnError(m.file, &err)
	f, d := m.file, m.doc
	refs, err := blockSeq(m, get(holder, "parentRefs"), "parentRefs of HTTPRoute "+route)
	if err != nil {
		return err
	}
	routeNS, _ := splitKey(route)
	if routeNS == "" {
		routeNS = m.namespace
	}
	gwNS, gwName := splitKey(gateway)

	var splices []splice
	moved, already := 0, 0
	for _, item := range refs.Content {
		if k := scalar(get(item, "kind")); k != "" && k != "Gateway" {
			continue
		}
		name := scalar(get(item, "name"))
		if name != gwName && !(strings.Contains(name, "${") && r.nameMatches(name, gwName)) {
			continue
		}
		if ns := scalar(get(item, "namespace")); ns != "" {
			if gwNS != "" && ns != gwNS {
				continue
			}
		} else if gwNS != "" && routeNS != "" && routeNS != gwNS {
			continue
		}
		key, value := pair(item, "sectionName")
		section := scalar(value)
		switch {
		case section == to:
			already++
			continue
		case section != from:
			continue
		}
		moved++
		s, err := r.setSection(f, d, item, key, value, to)
		if err != nil {
			return err
		}
		splices = append(splices, s)
	}
	if moved == 0 {
		if already > 0 {
			return nil
		}
		return fmt.Errorf("%s: HTTPRoute %s has no parentRef to Gateway %s with sectionName %q or %q", m.where(), route, gateway, from, to)
	}
	return apply(f, d, false, splices)
}

// setSection edits the node tree of parentRef item and returns the splice
// that sets its sectionName to section (adding or removing the key).
func (r *Repo) setSection(f *file, d *document, item, key, value *yaml.Node, section string) (splice, error) {
	switch {
	case value != nil && section != "":
		if value.Anchor != "" || value.Kind != yaml.ScalarNode {
			return splice{}, fmt.Errorf("%s:%d: sectionName is an anchor or alias; edit it by hand", f.path, value.Line)
		}
		s, err := replaceScalar(f, value, section)
		value.Value = section
		return s, err
	case value != nil:
		from, to := lineSpan(f, d, key, value)
		removePair(item, "sectionName")
		return splice{from: from, to: to}, nil
	}
	if item.Style&yaml.FlowStyle != 0 || len(item.Content) == 0 {
		return splice{}, fmt.Errorf("%s:%d: the parentRef is not a block mapping; add sectionName by hand", f.path, item.Line)
	}
	lines, err := renderPair("sectionName", strNode(section), item.Content[0].Column-1, indentStep(d))
	if err != nil {
		return splice{}, err
	}
	_, at := lineSpan(f, d, item)
	item.Content = append(item.Content, strNode("sectionName"), strNode(section))
	return splice{from: at, to: at, lines: lines}, nil
}

// reparseOnError parses f again when an edit failed, so that node edits
// made before the failure do not stay in the tree while the text is
// unchanged.
func reparseOnError(f *file, err *error) {
	if *err == nil {
		return
	}
	if perr := f.parse(); perr != nil {
		*err = fmt.Errorf("%w (and parsing %s again failed: %v)", *err, f.path, perr)
	}
}

func removePair(m *yaml.Node, key string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return
		}
	}
}

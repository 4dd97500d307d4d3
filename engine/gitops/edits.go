package gitops

import (
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/certwave/certwave/plan"
	"github.com/certwave/certwave/topology"
)

// reflectionAnnotations are the emberstack reflector keys RemoveReflection
// takes off a Certificate's secretTemplate.
var reflectionAnnotations = []string{
	topology.AnnotationReflectionAllowed,
	topology.AnnotationReflectionAllowedNamespaces,
	topology.AnnotationReflectionAutoEnabled,
	topology.AnnotationReflectionAutoNamespaces,
}

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

// AnnotateGateway sets annotations on gateway (namespace/name). Changed
// values are rewritten in place in their quoting style; new keys go after
// the existing annotations, sorted among themselves.
func (r *Repo) AnnotateGateway(gateway string, annotations map[string]string) error {
	m, err := r.lookup("Gateway", gateway)
	if err != nil {
		return err
	}
	return r.annotate(m, "Gateway "+gateway, annotations)
}

func (r *Repo) annotate(m match, object string, annotations map[string]string) (err error) {
	defer reparseOnError(m.file, &err)
	f, d := m.file, m.doc
	meta := get(d.root, "metadata")
	if meta == nil || meta.Kind != yaml.MappingNode || meta.Style&yaml.FlowStyle != 0 || len(meta.Content) == 0 {
		return fmt.Errorf("%s: metadata of %s is not a block mapping", m.where(), object)
	}
	keys := make([]string, 0, len(annotations))
	for k := range annotations {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	step := indentStep(d)
	akey, avalue := pair(meta, "annotations")

	if avalue == nil || avalue.Kind != yaml.MappingNode || avalue.Style&yaml.FlowStyle != 0 || len(avalue.Content) == 0 {
		// No block annotations yet: write the whole annotations key.
		merged := &yaml.Node{Kind: yaml.MappingNode}
		if avalue != nil && avalue.Kind == yaml.MappingNode {
			merged.Content = append(merged.Content, avalue.Content...)
		} else if avalue != nil && avalue.Tag != "!!null" {
			return fmt.Errorf("%s:%d: metadata.annotations of %s is not a mapping", f.path, avalue.Line, object)
		}
		for _, k := range keys {
			if _, v := pair(merged, k); v != nil {
				v.Value = annotations[k]
				continue
			}
			merged.Content = append(merged.Content, strNode(k), strNode(annotations[k]))
		}
		lines, err := renderPair("annotations", merged, meta.Content[0].Column-1, step)
		if err != nil {
			return err
		}
		var s splice
		if akey != nil {
			s.from, s.to = lineSpan(f, d, akey, avalue)
			avalue.Content, avalue.Style, avalue.Kind, avalue.Tag = merged.Content, 0, yaml.MappingNode, "!!map"
		} else {
			last := len(meta.Content) - 2
			_, s.from = lineSpan(f, d, meta.Content[last], meta.Content[last+1])
			s.to = s.from
			meta.Content = append(meta.Content, strNode("annotations"), merged)
		}
		s.lines = lines
		return apply(f, d, false, []splice{s})
	}

	// New keys go after the last existing annotation.
	last := len(avalue.Content) - 2
	_, end := lineSpan(f, d, avalue.Content[last], avalue.Content[last+1])
	var splices []splice
	var added []string
	for _, k := range keys {
		_, v := pair(avalue, k)
		switch {
		case v == nil:
			pairLines, err := renderPair(k, strNode(annotations[k]), avalue.Content[0].Column-1, step)
			if err != nil {
				return err
			}
			added = append(added, pairLines...)
			avalue.Content = append(avalue.Content, strNode(k), strNode(annotations[k]))
		case v.Kind == yaml.ScalarNode && v.Value == annotations[k]:
		case v.Kind != yaml.ScalarNode || v.Anchor != "":
			return fmt.Errorf("%s:%d: annotation %s of %s is an anchor or alias; edit it by hand", f.path, v.Line, k, object)
		default:
			s, err := replaceScalar(f, v, annotations[k])
			if err != nil {
				return err
			}
			v.Value = annotations[k]
			splices = append(splices, s)
		}
	}
	if len(added) > 0 {
		splices = append(splices, splice{from: end, to: end, lines: added})
	}
	if len(splices) == 0 {
		return nil
	}
	return apply(f, d, false, splices)
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

// RemoveCertificate removes the manifest of certificate (namespace/name).
// A file that contains only that Certificate is deleted, together with its
// entry in the resources of any kustomization.yaml that lists it. From a
// file with other documents, only the Certificate's document is cut out.
func (r *Repo) RemoveCertificate(certificate string) error {
	m, err := r.lookup("Certificate", certificate)
	if err != nil {
		return err
	}
	f, d := m.file, m.doc
	others := 0
	for _, o := range f.docs {
		if o != d && o.root != nil {
			others++
		}
	}
	if others > 0 {
		from := d.first
		if d.sep >= 0 {
			from = d.sep
		}
		return apply(f, d, true, []splice{{from: from, to: d.last + 1}})
	}

	for _, p := range r.paths {
		k := r.files[p]
		if k.deleted || !isKustomizationFile(p) {
			continue
		}
		for _, kd := range k.docs {
			if kd.root == nil || kd.kind != "Kustomization" || !strings.HasPrefix(kd.apiVersion, "kustomize.config.k8s.io/") {
				continue
			}
			resources := get(kd.root, "resources")
			if resources == nil || resources.Kind != yaml.SequenceNode {
				continue
			}
			for i, item := range resources.Content {
				if path.Join(pathDir(p), scalar(item)) != f.path {
					continue
				}
				if resources.Style&yaml.FlowStyle != 0 {
					return fmt.Errorf("%s:%d: resources is a flow-style list; remove %s by hand", p, item.Line, scalar(item))
				}
				from, to := lineSpan(k, kd, item)
				resources.Content = append(resources.Content[:i], resources.Content[i+1:]...)
				if err := apply(k, kd, false, []splice{{from: from, to: to}}); err != nil {
					return err
				}
				break
			}
		}
	}
	f.deleted = true
	return nil
}

func isKustomizationFile(p string) bool {
	base := path.Base(p)
	return base == "kustomization.yaml" || base == "kustomization.yml" || base == "Kustomization"
}

// RemoveReflection takes the emberstack reflector annotations off
// spec.secretTemplate of certificate (namespace/name), and removes
// secretTemplate.annotations and secretTemplate when they end up empty.
func (r *Repo) RemoveReflection(certificate string) error {
	m, err := r.lookup("Certificate", certificate)
	if err != nil {
		return err
	}
	f, d := m.file, m.doc
	spec := get(d.root, "spec")
	tkey, template := pair(spec, "secretTemplate")
	akey, annotations := pair(template, "annotations")
	if annotations == nil || annotations.Kind != yaml.MappingNode {
		return nil
	}

	var drop [][2]*yaml.Node
	for i := 0; i+1 < len(annotations.Content); i += 2 {
		for _, k := range reflectionAnnotations {
			if annotations.Content[i].Value == k {
				drop = append(drop, [2]*yaml.Node{annotations.Content[i], annotations.Content[i+1]})
			}
		}
	}
	if len(drop) == 0 {
		return nil
	}
	if annotations.Style&yaml.FlowStyle != 0 {
		return fmt.Errorf("%s:%d: secretTemplate.annotations of Certificate %s is a flow mapping; remove the reflector keys by hand", f.path, annotations.Line, certificate)
	}

	// Remove the smallest enclosing block that the removal leaves empty.
	var splices []splice
	switch {
	case len(drop)*2 == len(annotations.Content) && len(template.Content) == 2:
		from, to := lineSpan(f, d, tkey, template)
		splices = append(splices, splice{from: from, to: to})
		removePair(spec, "secretTemplate")
	case len(drop)*2 == len(annotations.Content):
		from, to := lineSpan(f, d, akey, annotations)
		splices = append(splices, splice{from: from, to: to})
		removePair(template, "annotations")
	default:
		for _, p := range drop {
			from, to := lineSpan(f, d, p[0], p[1])
			splices = append(splices, splice{from: from, to: to})
		}
		for _, p := range drop {
			removePair(annotations, p[0].Value)
		}
	}
	return apply(f, d, false, splices)
}

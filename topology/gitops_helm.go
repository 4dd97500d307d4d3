package topology

import (
	"fmt"
	"path"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// helmRelease is a Flux HelmRelease with the names Helm renders it under.
type helmRelease struct {
	obj       *renderedObject
	f         fieldReader
	namespace string // namespace of the HelmRelease object
	name      string // metadata.name
	// release and releaseNamespace are .Release.Name and .Release.Namespace.
	release          string
	releaseNamespace string
	chart            string // chart name, such as app-template
	version          string // chart version or OCI tag, "" when unknown
}

// readHelmRelease reads the chart of a HelmRelease and, for charts whose
// values the inventory uses (cert-manager and the route charts of
// chartRouteRenderers), its values.
func (b *inventoryBuilder) readHelmRelease(o *renderedObject) error {
	f := objectReader(o)
	ns, err := objectNamespace(o, f)
	if err != nil {
		return err
	}
	name, err := objectName(o, f)
	if err != nil {
		return err
	}
	if !b.record("HelmRelease", ns, name) {
		return nil
	}

	spec := yamlGet(o.root, "spec")
	hr := &helmRelease{obj: o, f: f, namespace: ns, name: name}
	if err := b.resolveChart(hr, spec); err != nil {
		return err
	}
	render := chartRouteRenderers[hr.chart]
	if render == nil && hr.chart != "cert-manager" {
		return nil
	}

	// Flux defaults the release name to [targetNamespace-]name and installs
	// into targetNamespace when set. Flux also shortens release names
	// longer than 53 characters with a hash, which is not modelled.
	target, _, err := f.text(yamlGet(spec, "targetNamespace"))
	if err != nil {
		return err
	}
	hr.release, hr.releaseNamespace = name, ns
	if target != "" {
		hr.release, hr.releaseNamespace = target+"-"+name, target
	}
	if rn, ok, err := f.text(yamlGet(spec, "releaseName")); err != nil {
		return err
	} else if ok && rn != "" {
		hr.release = rn
	}

	values, err := b.helmValues(hr, spec)
	if err != nil {
		return err
	}
	if hr.chart == "cert-manager" {
		return b.readCertManager(hr, values)
	}
	routes, err := render(hr, values)
	if err != nil {
		return err
	}
	for _, r := range routes {
		b.addChartRoute(r)
	}
	return nil
}

// resolveChart sets the chart name and version from spec.chartRef (the
// referenced OCIRepository's URL and tag) or spec.chart.spec. A chartRef to
// an OCIRepository not in the tree is taken by its name.
func (b *inventoryBuilder) resolveChart(hr *helmRelease, spec *yaml.Node) error {
	f := hr.f
	if ref := yamlGet(spec, "chartRef"); ref != nil {
		kind, _, err := f.text(yamlGet(ref, "kind"))
		if err != nil {
			return err
		}
		name, _, err := f.text(yamlGet(ref, "name"))
		if err != nil {
			return err
		}
		ns, _, err := f.text(yamlGet(ref, "namespace"))
		if err != nil {
			return err
		}
		if ns == "" {
			ns = hr.namespace
		}
		hr.chart = name
		src := b.sources[objectKey("OCIRepository", ns, name)]
		if kind != "OCIRepository" || src == nil {
			return nil
		}
		sf := objectReader(src)
		url, _, err := sf.text(yamlDig(src.root, "spec", "url"))
		if err != nil {
			return err
		}
		if base := path.Base(strings.TrimSuffix(url, "/")); url != "" && base != "." && base != "/" {
			hr.chart = base
		}
		for _, field := range []string{"tag", "semver", "digest"} {
			v, ok, err := sf.text(yamlDig(src.root, "spec", "ref", field))
			if err != nil {
				return err
			}
			if ok && v != "" {
				hr.version = v
				break
			}
		}
		return nil
	}
	chartSpec := yamlDig(spec, "chart", "spec")
	chart, _, err := f.text(yamlGet(chartSpec, "chart"))
	if err != nil {
		return err
	}
	hr.chart = path.Base(strings.TrimSuffix(chart, "/"))
	hr.version, _, err = f.text(yamlGet(chartSpec, "version"))
	return err
}

// helmValues holds merged HelmRelease values and, for each node, the reader
// of the file it came from.
type helmValues struct {
	root     *yaml.Node
	readers  map[*yaml.Node]fieldReader
	fallback fieldReader
}

func (v *helmValues) reader(n *yaml.Node) fieldReader {
	if r, ok := v.readers[yamlResolve(n)]; ok {
		return r
	}
	return v.fallback
}

func (v *helmValues) text(n *yaml.Node) (string, bool, error) {
	return v.reader(n).text(n)
}

func (v *helmValues) textList(n *yaml.Node) ([]string, error) {
	return v.reader(n).textList(n)
}

// truthy applies Go template truth to a value as Helm reads it after Flux
// substitution. An absent value is def and a quoted string is true when not
// empty. A plain scalar is read as a YAML 1.1 bool or number, and a map or
// list is true when not empty.
func (v *helmValues) truthy(n *yaml.Node, def bool) (bool, error) {
	n = yamlResolve(n)
	if n == nil {
		return def, nil
	}
	switch n.Kind {
	case yaml.MappingNode, yaml.SequenceNode:
		return len(n.Content) > 0, nil
	}
	text, ok, err := v.text(n)
	if err != nil || !ok {
		return false, err
	}
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 || n.Tag == "!!str" && n.Style&yaml.TaggedStyle != 0 {
		return text != "", nil
	}
	if b, ok := yamlTruthy(text); ok {
		return b, nil
	}
	if strings.Trim(text, "0.+-") == "" {
		return false, nil // a zero number
	}
	return true, nil
}

// helmValues merges the values of a HelmRelease as helm-controller does:
// each valuesFrom ConfigMap in order, then spec.values on top. A ConfigMap
// gives its key values.yaml unless valuesKey names another, and with
// targetPath its text is set at that dotted path. valuesFrom Secrets are not
// in the tree and are left out.
func (b *inventoryBuilder) helmValues(hr *helmRelease, spec *yaml.Node) (*helmValues, error) {
	v := &helmValues{readers: map[*yaml.Node]fieldReader{}, fallback: hr.f}
	f := hr.f
	for _, ref := range yamlItems(yamlGet(spec, "valuesFrom")) {
		site := includeSite{hr.obj.file, yamlLine(ref, hr.obj.line)}
		kind, _, err := f.text(yamlGet(ref, "kind"))
		if err != nil {
			return nil, err
		}
		if kind != "ConfigMap" {
			continue
		}
		name, _, err := f.text(yamlGet(ref, "name"))
		if err != nil {
			return nil, err
		}
		key, _, err := f.text(yamlGet(ref, "valuesKey"))
		if err != nil {
			return nil, err
		}
		if key == "" {
			key = "values.yaml"
		}
		optional, _ := yamlScalar(yamlGet(ref, "optional"))
		cm := b.sources[objectKey("ConfigMap", hr.namespace, name)]
		if cm == nil {
			if optional == "true" {
				continue
			}
			return nil, fmt.Errorf("%s: HelmRelease %s/%s: valuesFrom ConfigMap %s not found in the rendered tree", site, hr.namespace, hr.name, name)
		}
		text, reader, lineOffset, ok := configMapText(cm, key)
		if !ok {
			if optional == "true" {
				continue
			}
			return nil, fmt.Errorf("%s: HelmRelease %s/%s: ConfigMap %s has no key %s", site, hr.namespace, hr.name, name, key)
		}
		targetPath, _, err := f.text(yamlGet(ref, "targetPath"))
		if err != nil {
			return nil, err
		}
		var tree *yaml.Node
		if targetPath != "" {
			leaf := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: text, Line: lineOffset + 1}
			v.readers[leaf] = reader
			tree = valuesAtPath(strings.Split(targetPath, "."), leaf)
		} else {
			docs, err := parseYAMLDocuments(reader.file, []byte(text))
			if err != nil {
				return nil, err
			}
			if len(docs) == 0 {
				continue
			}
			tree = docs[0].root
			walkNodes(tree, func(n *yaml.Node) {
				n.Line += lineOffset
				v.readers[n] = reader
			})
		}
		v.root = mergeValues(v.root, tree)
	}
	v.root = mergeValues(v.root, yamlGet(spec, "values"))
	return v, nil
}

// configMapText returns one data key of a ConfigMap, the reader for its
// text and the number of lines before the text in its file.
func configMapText(cm *renderedObject, key string) (string, fieldReader, int, bool) {
	reader := objectReader(cm)
	if cm.generated != nil {
		gv, ok := cm.generated.data[key]
		if !ok {
			return "", reader, 0, false
		}
		reader.file = gv.file
		return gv.text, reader, gv.line - 1, true
	}
	node := yamlDig(cm.root, "data", key)
	text, ok := yamlScalar(node)
	if !ok {
		return "", reader, 0, false
	}
	offset := node.Line - 1
	if node.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		offset = node.Line // block text starts on the line after the indicator
	}
	return text, reader, offset, true
}

// valuesAtPath nests leaf under the keys of p.
func valuesAtPath(p []string, leaf *yaml.Node) *yaml.Node {
	n := leaf
	for i := len(p) - 1; i >= 0; i-- {
		key := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: p[i]}
		n = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{key, n}}
	}
	return n
}

// mergeValues returns base with over merged on top: maps merge key by key,
// anything else in over replaces base. The inputs are not changed.
func mergeValues(base, over *yaml.Node) *yaml.Node {
	base, over = yamlResolve(base), yamlResolve(over)
	if over == nil {
		return base
	}
	if !yamlIsMap(base) || !yamlIsMap(over) {
		return over
	}
	out := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: over.Line}
	index := map[string]int{}
	for _, p := range yamlPairs(base) {
		index[p.key.Value] = len(out.Content) + 1
		out.Content = append(out.Content, p.key, p.value)
	}
	for _, p := range yamlPairs(over) {
		if i, ok := index[p.key.Value]; ok {
			out.Content[i] = mergeValues(out.Content[i], p.value)
			continue
		}
		index[p.key.Value] = len(out.Content) + 1
		out.Content = append(out.Content, p.key, p.value)
	}
	return out
}

// walkNodes calls fn on n and every node below it, following no aliases.
func walkNodes(n *yaml.Node, fn func(*yaml.Node)) {
	if n == nil {
		return
	}
	fn(n)
	if n.Kind == yaml.AliasNode {
		return
	}
	for _, c := range n.Content {
		walkNodes(c, fn)
	}
}

// readCertManager records the first cert-manager HelmRelease: its chart
// version and whether the controller runs the gateway-shim
// (config.enableGatewayAPI from v1.15, config.gatewayAPI.enabled in v1.21,
// or --enable-gateway-api in extraArgs).
func (b *inventoryBuilder) readCertManager(hr *helmRelease, v *helmValues) error {
	if b.inv.CertManager.Found {
		return nil
	}
	cm := CertManager{Found: true, Version: hr.version, Origin: Origin{File: hr.obj.file, Line: hr.obj.line}}
	config := yamlGet(v.root, "config")
	for _, flag := range [][]string{{"enableGatewayAPI"}, {"gatewayAPI", "enabled"}} {
		on, err := v.truthy(yamlDig(config, flag...), false)
		if err != nil {
			return err
		}
		cm.GatewayAPIEnabled = cm.GatewayAPIEnabled || on
	}
	args, err := v.textList(yamlGet(v.root, "extraArgs"))
	if err != nil {
		return err
	}
	for _, arg := range args {
		if arg == "--enable-gateway-api" || arg == "--enable-gateway-api=true" {
			cm.GatewayAPIEnabled = true
		}
	}
	b.inv.CertManager = cm
	return nil
}

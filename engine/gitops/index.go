package gitops

import (
	"fmt"
	"github.com/certwave/certwave/topology"
	"regexp"
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// match is one document found by a lookup.
type match struct {
	file *file
	doc  *document
	// namespace is the derived namespace, empty when unknown.
	namespace string
}

// where returns the match as file:line.
func (m match) where() string {
	line := m.doc.first + 1
	if m.doc.root != nil {
		line = m.doc.root.Line
	}
	return fmt.Sprintf("%s:%d", m.file.path, line)
}

// splitKey splits namespace/name; a key without a slash is a name.
func splitKey(key string) (string, string) {
	if ns, name, ok := strings.Cut(key, "/"); ok {
		return ns, name
	}
	return "", key
}

// lookup finds the one document of kind named key (namespace/name). Names
// are compared after Flux substitution: a name written with ${VAR} matches
// when it equals the requested name with the known variables substituted,
// and an unknown variable matches any non-empty text. An exact match wins
// over a match through a variable. No match, and more than one, are errors
// naming what was searched.
func (r *Repo) lookup(kind, key string) (match, error) {
	ns, name := splitKey(key)
	var exact, viaVars []match
	var seen []string
	for _, p := range r.paths {
		f := r.files[p]
		if f.deleted {
			continue
		}
		for _, d := range f.docs {
			if d.kind != kind || d.root == nil {
				continue
			}
			m := match{file: f, doc: d, namespace: r.namespaceOf(p, d)}
			seen = append(seen, m.namespace+"/"+d.name)
			if ns != "" && m.namespace != "" && m.namespace != ns {
				continue
			}
			switch {
			case d.name == name:
				exact = append(exact, m)
			case strings.Contains(d.name, "${") && r.nameMatches(d.name, name):
				viaVars = append(viaVars, m)
			}
		}
	}
	found := exact
	if len(found) == 0 {
		found = viaVars
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return match{}, r.withInvalid(notFound(kind, key, len(r.paths), seen))
	}
	var places []string
	for _, m := range found {
		places = append(places, m.where())
	}
	return match{}, fmt.Errorf("%s %s is ambiguous: it matches %s; set the namespace in the manifests or in a kustomization", kind, key, strings.Join(places, ", "))
}

// withInvalid adds to a lookup error the files that were skipped as
// invalid YAML, since the object may be defined in one of them.
func (r *Repo) withInvalid(err error) error {
	if len(r.invalid) == 0 {
		return err
	}
	paths := make([]string, 0, len(r.invalid))
	for p := range r.invalid {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return fmt.Errorf("%w; %d files were skipped as invalid YAML: %s (first error: %v)", err, len(paths), strings.Join(paths, ", "), r.invalid[paths[0]])
}

func notFound(kind, key string, files int, seen []string) error {
	sort.Strings(seen)
	listed := seen
	const maxListed = 12
	if len(listed) > maxListed {
		listed = append(listed[:maxListed:maxListed], fmt.Sprintf("and %d more", len(seen)-maxListed))
	}
	if len(listed) == 0 {
		return fmt.Errorf("%s %s not found: none of the %d YAML files contains a %s", kind, key, files, kind)
	}
	return fmt.Errorf("%s %s not found in %d YAML files; the %d %s manifests found are %s (namespace/name, empty namespace when not derivable)",
		kind, key, files, len(seen), kind, strings.Join(listed, ", "))
}

// variable matches a Flux substitution: ${VAR}, ${VAR/old/new},
// ${VAR//old/new} or ${VAR:=default}.
var variable = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)((?://?[^/}]*/[^}]*)|(?::?=[^}]*))?\}`)

// nameMatches reports whether the manifest name tmpl, which contains
// variables, can stand for name.
func (r *Repo) nameMatches(tmpl, name string) bool {
	var pattern strings.Builder
	pattern.WriteString("^")
	last := 0
	for _, loc := range variable.FindAllStringSubmatchIndex(tmpl, -1) {
		pattern.WriteString(regexp.QuoteMeta(tmpl[last:loc[0]]))
		last = loc[1]
		value, ok := r.substitute(tmpl[loc[0]:loc[1]])
		if ok {
			pattern.WriteString(regexp.QuoteMeta(value))
		} else {
			pattern.WriteString(".+")
		}
	}
	pattern.WriteString(regexp.QuoteMeta(tmpl[last:]))
	pattern.WriteString("$")
	re, err := regexp.Compile(pattern.String())
	return err == nil && re.MatchString(name)
}

// substitute expands one ${...} expression with r.vars, as Flux's envsubst
// does for the forms variable matches.
func (r *Repo) substitute(expr string) (string, bool) {
	m := variable.FindStringSubmatch(expr)
	if m == nil {
		return "", false
	}
	value, ok := r.vars[m[1]]
	op := m[2]
	switch {
	case strings.HasPrefix(op, ":=") || strings.HasPrefix(op, "="):
		if !ok || value == "" {
			return strings.TrimPrefix(strings.TrimPrefix(op, ":"), "="), true
		}
		return value, true
	case !ok:
		return "", false
	case strings.HasPrefix(op, "//"):
		old, repl, _ := strings.Cut(op[2:], "/")
		return strings.ReplaceAll(value, old, repl), true
	case strings.HasPrefix(op, "/"):
		old, repl, _ := strings.Cut(op[1:], "/")
		return strings.Replace(value, old, repl, 1), true
	}
	return value, true
}

// templated rewrites a domain suffix of s that equals the value of one of
// r.vars back to ${VAR}, so that a hostname the plan spells out keeps the
// form the repository uses. Only whole trailing labels are replaced, and
// the longest matching value wins. A variable whose value is not a suffix
// of s at a dot is left alone.
func (r *Repo) templated(s string) string {
	best, name := "", ""
	for k, v := range r.vars {
		if v == "" || (s != v && !strings.HasSuffix(s, "."+v)) {
			continue
		}
		if len(v) > len(best) || (len(v) == len(best) && k < name) {
			best, name = v, k
		}
	}
	if name == "" {
		return s
	}
	return strings.TrimSuffix(s, best) + "${" + name + "}"
}

// routeValues is an HTTPRoute rendered by the app-template chart from one
// entry of a HelmRelease's spec.values.route.
type routeValues struct {
	match
	key   string
	value *yaml.Node
}

// lookupRoute finds the manifest that defines HTTPRoute key: a plain
// HTTPRoute document, else an entry of spec.values.route in an app-template
// HelmRelease. It returns the node holding parentRefs (the HTTPRoute's
// spec or the route entry).
func (r *Repo) lookupRoute(key string) (match, *yaml.Node, error) {
	m, plainErr := r.lookup("HTTPRoute", key)
	if plainErr == nil {
		return m, get(m.doc.root, "spec"), nil
	}
	ns, name := splitKey(key)
	var found []routeValues
	for _, p := range r.paths {
		f := r.files[p]
		if f.deleted {
			continue
		}
		for _, d := range f.docs {
			if d.kind != "HelmRelease" || d.root == nil || !isAppTemplate(d.root) {
				continue
			}
			hm := match{file: f, doc: d, namespace: r.namespaceOf(p, d)}
			for _, rv := range appTemplateRoutes(hm) {
				if rv.name == name && (ns == "" || rv.namespace == "" || rv.namespace == ns) {
					found = append(found, rv.routeValues)
				}
			}
		}
	}
	switch len(found) {
	case 1:
		return found[0].match, found[0].value, nil
	case 0:
		if m, holder, ok := r.routeAtOrigin(key); ok {
			return m, holder, nil
		}
		return match{}, nil, fmt.Errorf("%w; no app-template HelmRelease renders it either", plainErr)
	}
	var places []string
	for _, rv := range found {
		places = append(places, fmt.Sprintf("%s (route %s)", rv.where(), rv.key))
	}
	return match{}, nil, fmt.Errorf("HTTPRoute %s is ambiguous: it matches %s", key, strings.Join(places, ", "))
}

// isAppTemplate reports whether a HelmRelease installs the bjw-s
// app-template chart, through chartRef or chart.spec.chart.
func isAppTemplate(hr *yaml.Node) bool {
	spec := get(hr, "spec")
	return strings.Contains(scalar(get(get(spec, "chartRef"), "name")), "app-template") ||
		scalar(get(get(get(spec, "chart"), "spec"), "chart")) == "app-template"
}

type namedRoute struct {
	routeValues
	name, namespace string
}

// appTemplateRoutes lists the HTTPRoutes an app-template HelmRelease
// renders, named as the chart's common library v4 names them: the release
// name (spec.releaseName, else [targetNamespace-]metadata.name as Flux
// defaults it), replaced by fullnameOverride or forceRename, and suffixed
// with -<key> when more than one route is enabled or
// global.alwaysAppendIdentifierToResourceName is true.
// NOTE: values from spec.valuesFrom are not read, and prefix, suffix and
// nameOverride are ignored.
func appTemplateRoutes(hr match) []namedRoute {
	spec := get(hr.doc.root, "spec")
	values := get(spec, "values")
	release := scalar(get(spec, "releaseName"))
	if release == "" {
		release = hr.doc.name
		if tn := scalar(get(spec, "targetNamespace")); tn != "" {
			release = tn + "-" + release
		}
	}
	releaseNS := scalar(get(spec, "targetNamespace"))
	if releaseNS == "" {
		releaseNS = hr.namespace
	}
	fullname := release
	for _, o := range []string{scalar(get(get(values, "global"), "fullnameOverride")), scalar(get(values, "fullnameOverride"))} {
		if o != "" {
			fullname = o
			break
		}
	}

	routes := get(values, "route")
	if routes != nil && routes.Kind == yaml.AliasNode {
		routes = routes.Alias
	}
	var enabled []routeValues
	if routes != nil && routes.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(routes.Content); i += 2 {
			v := routes.Content[i+1]
			if v.Kind != yaml.MappingNode {
				continue
			}
			if e := scalar(get(v, "enabled")); e == "false" {
				continue
			}
			if k := scalar(get(v, "kind")); k != "" && k != "HTTPRoute" {
				continue
			}
			enabled = append(enabled, routeValues{match: hr, key: routes.Content[i].Value, value: v})
		}
	}
	appendKey := scalar(get(get(values, "global"), "alwaysAppendIdentifierToResourceName")) == "true" || len(enabled) > 1

	var out []namedRoute
	for _, rv := range enabled {
		name := fullname
		if appendKey && !strings.HasSuffix(name, "-"+rv.key) && name != rv.key {
			name += "-" + rv.key
		}
		if forced := scalar(get(rv.value, "forceRename")); forced != "" {
			name = strings.ReplaceAll(forced, "{{ .Release.Name }}", release)
		}
		ns := scalar(get(rv.value, "namespaceOverride"))
		if ns == "" {
			ns = releaseNS
		}
		out = append(out, namedRoute{routeValues: rv, name: strings.ToLower(name), namespace: ns})
	}
	return out
}

// UseRouteOrigins records where an inventory read each route: for a route
// rendered from a chart's values other than app-template's, the line of
// the values entry that holds its parentRefs. FlipRoute edits that entry
// when no HTTPRoute manifest or app-template route defines the route.
func (r *Repo) UseRouteOrigins(routes []topology.Route) {
	r.routeOrigins = map[string]topology.Origin{}
	for _, rt := range routes {
		if rt.Origin.File != "" && rt.Origin.Line > 0 {
			r.routeOrigins[rt.Namespace+"/"+rt.Name] = rt.Origin
		}
	}
}

// routeAtOrigin returns the values entry at the recorded origin of route
// key when it is a mapping with parentRefs.
func (r *Repo) routeAtOrigin(key string) (match, *yaml.Node, bool) {
	o, ok := r.routeOrigins[key]
	if !ok {
		return match{}, nil, false
	}
	f, ok := r.files[o.File]
	if !ok || f.deleted {
		return match{}, nil, false
	}
	for _, d := range f.docs {
		if d.root == nil {
			continue
		}
		if v := valueAtKeyLine(d.root, o.Line); v != nil && v.Kind == yaml.MappingNode && get(v, "parentRefs") != nil {
			return match{file: f, doc: d, namespace: r.namespaceOf(f.path, d)}, v, true
		}
	}
	return match{}, nil, false
}

// valueAtKeyLine returns the mapping that holds route values at line,
// searching n's subtree. It is the value of the key on that line (a
// chart's route map entry, such as main:), or a mapping that starts on it
// (a chart's single route: block).
func valueAtKeyLine(n *yaml.Node, line int) *yaml.Node {
	switch n.Kind {
	case yaml.MappingNode:
		if n.Line == line && get(n, "parentRefs") != nil {
			return n
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Line == line && n.Content[i+1].Kind == yaml.MappingNode {
				return n.Content[i+1]
			}
			if v := valueAtKeyLine(n.Content[i+1], line); v != nil {
				return v
			}
		}
	case yaml.SequenceNode, yaml.DocumentNode:
		for _, c := range n.Content {
			if v := valueAtKeyLine(c, line); v != nil {
				return v
			}
		}
	}
	return nil
}

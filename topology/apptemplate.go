package topology

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// chartRouteFunc returns the HTTPRoutes a chart renders from its values.
type chartRouteFunc func(hr *helmRelease, v *helmValues) ([]Route, error)

// chartRouteRenderers are the charts whose values make HTTPRoutes, by chart
// name. Routes of other charts are not seen.
var chartRouteRenderers = map[string]chartRouteFunc{
	"app-template":          appTemplateRoutes,
	"grafana":               grafanaRoutes,
	"kube-prometheus-stack": kubePrometheusStackRoutes,
	"netbox":                netboxRoutes,
	"renovate-operator":     renovateOperatorRoutes,
	"rook-ceph-cluster":     rookCephClusterRoutes,
}

// appTemplateRoutes renders the route: map of the bjw-s app-template chart
// (v4, common library v4), read from the chart's templates
// (bjw-s-labs/helm-charts, charts/library/common/templates: render/_routes,
// classes/_route, lib/_determineResourceNameFromValues, lib/chart/_names):
//
//   - every entry whose value is a map is a route, enabled unless it sets
//     enabled to a false value, and routes of a kind other than HTTPRoute
//     are skipped here;
//   - the name is the chart fullname, which is the release name because
//     app-template sets global.nameOverride to it; forceRename replaces the
//     name, prefix and suffix wrap it, and the entry's key is appended
//     ("<release>-<key>") only when more than one route is enabled or
//     global.alwaysAppendIdentifierToResourceName is set, unless the name
//     already ends in -<key> or equals the key; the result is lower-cased;
//   - the namespace is namespaceOverride or the release namespace;
//   - hostnames go through Helm's tpl, of which {{ .Release.Name }} and
//     {{ .Release.Namespace }} are expanded.
func appTemplateRoutes(hr *helmRelease, v *helmValues) ([]Route, error) {
	type entry struct {
		key   string
		line  int
		value *yaml.Node
	}
	var enabled []entry
	for _, p := range yamlPairs(yamlGet(v.root, "route")) {
		if !yamlIsMap(p.value) {
			continue
		}
		on, err := v.truthy(yamlGet(p.value, "enabled"), true)
		if err != nil {
			return nil, err
		}
		if on {
			enabled = append(enabled, entry{key: p.key.Value, line: p.key.Line, value: p.value})
		}
	}
	sort.Slice(enabled, func(i, j int) bool { return enabled[i].key < enabled[j].key })
	appendKey, err := v.truthy(yamlDig(v.root, "global", "alwaysAppendIdentifierToResourceName"), false)
	if err != nil {
		return nil, err
	}
	appendKey = appendKey || len(enabled) > 1
	fullname, err := appTemplateFullname(hr, v)
	if err != nil {
		return nil, err
	}

	var routes []Route
	for _, e := range enabled {
		kind, _, err := v.text(yamlGet(e.value, "kind"))
		if err != nil {
			return nil, err
		}
		if kind != "" && kind != "HTTPRoute" {
			continue
		}
		name, err := appTemplateObjectName(hr, v, e.value, e.key, fullname, appendKey)
		if err != nil {
			return nil, err
		}
		ns, _, err := v.text(yamlGet(e.value, "namespaceOverride"))
		if err != nil {
			return nil, err
		}
		if ns == "" {
			ns = hr.releaseNamespace
		}
		r, err := chartRoute(hr, v, e.value, ns, name, true)
		if err != nil {
			return nil, err
		}
		r.Origin = Origin{File: v.reader(e.value).file, Line: e.line}
		routes = append(routes, r)
	}
	return routes, nil
}

// appTemplateFullname follows bjw-s.common.lib.chart.names.fullname with
// global.nameOverride defaulting to the release name.
func appTemplateFullname(hr *helmRelease, v *helmValues) (string, error) {
	for _, p := range [][]string{{"global", "fullnameOverride"}, {"fullnameOverride"}} {
		override, _, err := v.text(yamlDig(v.root, p...))
		if err != nil {
			return "", err
		}
		if override != "" {
			return helmTrunc(override, 63), nil
		}
	}
	name, _, err := v.text(yamlDig(v.root, "global", "nameOverride"))
	if err != nil {
		return "", err
	}
	if name == "" {
		name, _, err = v.text(yamlGet(v.root, "nameOverride"))
		if err != nil {
			return "", err
		}
	}
	if name == "" {
		name = hr.release
	}
	if strings.Contains(hr.release, name) {
		return helmTrunc(hr.release, 63), nil
	}
	return helmTrunc(hr.release+"-"+name, 63), nil
}

// appTemplateObjectName follows bjw-s.common.lib.determineResourceNameFromValues.
func appTemplateObjectName(hr *helmRelease, v *helmValues, values *yaml.Node, key, fullname string, appendKey bool) (string, error) {
	render := func(field string) (string, error) {
		node := yamlGet(values, field)
		text, _, err := v.text(node)
		if err != nil || text == "" {
			return text, err
		}
		return expandReleaseTemplate(text, hr, v.reader(node).file, yamlLine(node, 0))
	}
	forced, err := render("forceRename")
	if err != nil || forced != "" {
		return strings.ToLower(forced), err
	}

	name := fullname
	prefix, err := render("prefix")
	if err != nil {
		return "", err
	}
	if prefix != "" && prefix != name {
		name = prefix + "-" + name
	}
	if appendKey && !strings.HasSuffix(name, "-"+key) && key != name {
		name += "-" + key
	}
	suffix, err := render("suffix")
	if err != nil {
		return "", err
	}
	if suffix != "" && !strings.HasSuffix(name, "-"+suffix) {
		name += "-" + suffix
	}
	return strings.ToLower(name), nil
}

// chartRoute reads hostnames and parentRefs of one route's values. tpl is
// true when the chart passes hostnames through Helm's tpl.
func chartRoute(hr *helmRelease, v *helmValues, values *yaml.Node, ns, name string, tpl bool) (Route, error) {
	r := Route{Namespace: ns, Name: name, Origin: Origin{File: v.reader(values).file, Line: yamlLine(values, 0)}}
	for _, h := range yamlItems(yamlGet(values, "hostnames")) {
		text, ok, err := v.text(h)
		if err != nil {
			return r, err
		}
		if !ok {
			continue
		}
		if tpl {
			if text, err = expandReleaseTemplate(text, hr, v.reader(h).file, yamlLine(h, 0)); err != nil {
				return r, err
			}
		}
		r.Hostnames = append(r.Hostnames, text)
	}
	refs := yamlGet(values, "parentRefs")
	var err error
	r.ParentRefs, err = readParentRefs(refs, v.reader(refs), ns, nil)
	return r, err
}

// releaseTemplate matches the Helm template actions the loader expands.
var releaseTemplate = regexp.MustCompile(`\{\{-?\s*\.Release\.(Name|Namespace)\s*-?\}\}`)

// expandReleaseTemplate expands {{ .Release.Name }} and
// {{ .Release.Namespace }}. Any other template action is an error because
// the loader does not run Helm.
func expandReleaseTemplate(s string, hr *helmRelease, file string, line int) (string, error) {
	if !strings.Contains(s, "{{") {
		return s, nil
	}
	out := releaseTemplate.ReplaceAllStringFunc(s, func(m string) string {
		if strings.Contains(m, "Namespace") {
			return hr.releaseNamespace
		}
		return hr.release
	})
	if strings.Contains(out, "{{") {
		return "", fmt.Errorf("%s: Helm template in %q is not supported; only {{ .Release.Name }} and {{ .Release.Namespace }} are expanded", includeSite{file, line}, s)
	}
	return out, nil
}

// helmTrunc is Helm's trunc followed by trimSuffix "-".
func helmTrunc(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.TrimSuffix(s, "-")
}

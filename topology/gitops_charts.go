package topology

import (
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// The route templates below were read from each chart's repository:
// prometheus-community/helm-charts (kube-prometheus-stack
// templates/{alertmanager,prometheus}/route.yaml), grafana/helm-charts
// (grafana templates/route.yaml), netbox-community/netbox-chart
// (templates/httproute.yaml), mogenius/renovate-operator (templates/
// httproute.yaml and route.yaml) and rook/rook (rook-ceph-cluster
// templates/httproute.yaml and cephobjectstore-httproute.yaml).

// helmFullname is the fullname helper these charts share, truncated to
// limit: fullnameOverride, else the release name when it contains the chart
// name (or nameOverride), else release-chart.
func helmFullname(hr *helmRelease, v *helmValues, chart string, limit int) (string, error) {
	override, _, err := v.text(yamlGet(v.root, "fullnameOverride"))
	if err != nil {
		return "", err
	}
	if override != "" {
		return helmTrunc(override, limit), nil
	}
	name, _, err := v.text(yamlGet(v.root, "nameOverride"))
	if err != nil {
		return "", err
	}
	if name == "" {
		name = chart
	}
	if strings.Contains(hr.release, name) {
		return helmTrunc(hr.release, limit), nil
	}
	return helmTrunc(hr.release+"-"+name, limit), nil
}

// namespaceOverride returns the value at keys, or the release namespace.
func namespaceOverride(hr *helmRelease, v *helmValues, keys ...string) (string, error) {
	ns, _, err := v.text(yamlDig(v.root, keys...))
	if err != nil || ns != "" {
		return ns, err
	}
	return hr.releaseNamespace, nil
}

// namedRoutes renders a route map whose entries need enabled: true and are
// named base, or base-<key> for keys other than main (the kube-prometheus-
// stack and grafana convention).
func namedRoutes(hr *helmRelease, v *helmValues, routeMap *yaml.Node, base, ns string) ([]Route, error) {
	var routes []Route
	for _, p := range yamlPairs(routeMap) {
		on, err := v.truthy(yamlGet(p.value, "enabled"), false)
		if err != nil || !on {
			if err != nil {
				return nil, err
			}
			continue
		}
		kind, _, err := v.text(yamlGet(p.value, "kind"))
		if err != nil {
			return nil, err
		}
		if kind != "" && kind != "HTTPRoute" {
			continue
		}
		name := base
		if p.key.Value != "main" {
			name += "-" + p.key.Value
		}
		r, err := chartRoute(hr, v, p.value, ns, name, true)
		if err != nil {
			return nil, err
		}
		r.Origin.Line = p.key.Line
		routes = append(routes, r)
	}
	return routes, nil
}

// kubePrometheusStackRoutes renders alertmanager.route and
// prometheus.route. Each route is named <fullname>-<component>, and the
// fullname is cut to 26 characters as the chart does. Components are on unless
// <component>.enabled is false. Routes of thanosRuler and of the grafana
// subchart are not read.
func kubePrometheusStackRoutes(hr *helmRelease, v *helmValues) ([]Route, error) {
	fullname, err := helmFullname(hr, v, "kube-prometheus-stack", 26)
	if err != nil {
		return nil, err
	}
	ns, err := namespaceOverride(hr, v, "namespaceOverride")
	if err != nil {
		return nil, err
	}
	var routes []Route
	for _, component := range []string{"alertmanager", "prometheus"} {
		on, err := v.truthy(yamlDig(v.root, component, "enabled"), true)
		if err != nil {
			return nil, err
		}
		if !on {
			continue
		}
		more, err := namedRoutes(hr, v, yamlDig(v.root, component, "route"), fullname+"-"+component, ns)
		if err != nil {
			return nil, err
		}
		routes = append(routes, more...)
	}
	return routes, nil
}

// grafanaRoutes renders the grafana chart's route map, named <fullname> or
// <fullname>-<key>.
func grafanaRoutes(hr *helmRelease, v *helmValues) ([]Route, error) {
	fullname, err := helmFullname(hr, v, "grafana", 63)
	if err != nil {
		return nil, err
	}
	ns, err := namespaceOverride(hr, v, "namespaceOverride")
	if err != nil {
		return nil, err
	}
	return namedRoutes(hr, v, yamlGet(v.root, "route"), fullname, ns)
}

// netboxRoutes renders httpRoute of the netbox chart: one route named
// after the fullname when httpRoute.enabled is true. Hostnames are not
// passed through tpl.
func netboxRoutes(hr *helmRelease, v *helmValues) ([]Route, error) {
	route := yamlGet(v.root, "httpRoute")
	on, err := v.truthy(yamlGet(route, "enabled"), false)
	if err != nil || !on {
		return nil, err
	}
	fullname, err := helmFullname(hr, v, "netbox", 63)
	if err != nil {
		return nil, err
	}
	ns, err := namespaceOverride(hr, v, "namespaceOverride")
	if err != nil {
		return nil, err
	}
	r, err := chartRoute(hr, v, route, ns, fullname, false)
	if err != nil {
		return nil, err
	}
	return []Route{r}, nil
}

// renovateOperatorRoutes renders the renovate-operator chart's route. Older
// releases take one route (route.enabled, route.hostnames) named after the
// fullname; newer ones take a map of routes, enabled by default, named
// <fullname>, <fullname>-<nameOverride> or <fullname>-<key>. The keys under
// route decide which form the values use.
func renovateOperatorRoutes(hr *helmRelease, v *helmValues) ([]Route, error) {
	route := yamlGet(v.root, "route")
	fullname, err := helmFullname(hr, v, "renovate-operator", 63)
	if err != nil {
		return nil, err
	}
	ns := hr.releaseNamespace
	single := false
	for _, key := range []string{"enabled", "hostnames", "parentRefs"} {
		if n := yamlGet(route, key); n != nil && !yamlIsMap(n) {
			single = true
		}
	}
	if single {
		on, err := v.truthy(yamlGet(route, "enabled"), false)
		if err != nil || !on {
			return nil, err
		}
		r, err := chartRoute(hr, v, route, ns, fullname, false)
		if err != nil {
			return nil, err
		}
		return []Route{r}, nil
	}
	var routes []Route
	for _, p := range yamlPairs(route) {
		on, err := v.truthy(yamlGet(p.value, "enabled"), true)
		if err != nil {
			return nil, err
		}
		if !on || !yamlIsMap(p.value) {
			continue
		}
		name := fullname
		override, _, err := v.text(yamlGet(p.value, "nameOverride"))
		if err != nil {
			return nil, err
		}
		switch {
		case override != "":
			name += "-" + override
		case p.key.Value != "main":
			name += "-" + p.key.Value
		}
		r, err := chartRoute(hr, v, p.value, ns, name, true)
		if err != nil {
			return nil, err
		}
		r.Origin.Line = p.key.Line
		routes = append(routes, r)
	}
	return routes, nil
}

// rookCephClusterRoutes renders the dashboard route when
// route.dashboard.host is set, named <clusterName>-dashboard with
// clusterName defaulting to the release namespace. Each cephObjectStores
// entry with route.enabled adds a route named after the store.
func rookCephClusterRoutes(hr *helmRelease, v *helmValues) ([]Route, error) {
	var routes []Route
	dashboard := yamlDig(v.root, "route", "dashboard")
	if on, err := v.truthy(yamlGet(dashboard, "host"), false); err != nil {
		return nil, err
	} else if on {
		cluster, err := namespaceOverride(hr, v, "clusterName")
		if err != nil {
			return nil, err
		}
		r, err := hostRoute(hr, v, dashboard, cluster+"-dashboard")
		if err != nil {
			return nil, err
		}
		routes = append(routes, r)
	}
	for _, store := range yamlItems(yamlGet(v.root, "cephObjectStores")) {
		route := yamlGet(store, "route")
		on, err := v.truthy(yamlGet(route, "enabled"), false)
		if err != nil {
			return nil, err
		}
		if !on {
			continue
		}
		name, _, err := v.text(yamlGet(store, "name"))
		if err != nil {
			return nil, err
		}
		r, err := hostRoute(hr, v, route, name)
		if err != nil {
			return nil, err
		}
		routes = append(routes, r)
	}
	sort.Slice(routes, func(i, j int) bool { return routes[i].Name < routes[j].Name })
	return routes, nil
}

// hostRoute reads a rook route block: one hostname at host.name.
func hostRoute(hr *helmRelease, v *helmValues, values *yaml.Node, name string) (Route, error) {
	ns := hr.releaseNamespace
	r := Route{Namespace: ns, Name: name, Origin: Origin{File: v.reader(values).file, Line: yamlLine(values, 0)}}
	host := yamlDig(values, "host", "name")
	h, ok, err := v.text(host)
	if err != nil {
		return r, err
	}
	if ok && h != "" {
		r.Hostnames = []string{h}
	}
	refs := yamlGet(values, "parentRefs")
	r.ParentRefs, err = readParentRefs(refs, v.reader(refs), ns, nil)
	return r, err
}

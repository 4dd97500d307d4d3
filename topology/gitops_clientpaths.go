package topology

import (
	"fmt"
	"net/url"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// readClientPaths adds a fixed-sni ClientPath for every cloudflared tunnel
// configuration held in a ConfigMap (generated or written out). A tunnel
// ingress rule whose service is https://<name>.<namespace>.svc...:<port>
// reaches the Gateway namespace/name, and cloudflared sends one server name
// for all its hostnames: originRequest.originServerName of the rule, else
// the top-level one, else the service's own host name. Rules with
// matchSNItoHost send the requested host and are left out, like rules to
// non-TLS services.
func (b *inventoryBuilder) readClientPaths() error {
	for _, o := range b.objects {
		if consultedKind(o) != "ConfigMap" {
			continue
		}
		var keys []string
		if o.generated != nil {
			keys = o.generated.keys
		} else {
			for _, p := range yamlPairs(yamlGet(o.root, "data")) {
				keys = append(keys, p.key.Value)
			}
		}
		for _, key := range keys {
			text, reader, offset, ok := configMapText(o, key)
			if !ok || !strings.Contains(text, "ingress") || !strings.Contains(text, "service") {
				continue
			}
			docs, err := parseYAMLDocuments(reader.file, []byte(text))
			if err != nil || len(docs) == 0 || !isTunnelConfig(docs[0].root) {
				continue
			}
			walkNodes(docs[0].root, func(n *yaml.Node) { n.Line += offset })
			f := objectReader(o)
			name, err := objectName(o, f)
			if err != nil {
				return err
			}
			paths, err := cloudflaredPaths(docs[0].root, reader, name)
			if err != nil {
				return err
			}
			b.inv.ClientPaths = append(b.inv.ClientPaths, paths...)
		}
	}
	return nil
}

// isTunnelConfig reports whether root looks like a cloudflared config: an
// ingress list of rules that each name a service, the last one without a
// hostname, since cloudflared requires a final catch-all rule.
func isTunnelConfig(root *yaml.Node) bool {
	rules := yamlItems(yamlGet(root, "ingress"))
	if len(rules) == 0 {
		return false
	}
	for _, rule := range rules {
		if _, ok := yamlScalar(yamlGet(rule, "service")); !ok {
			return false
		}
	}
	return yamlGet(rules[len(rules)-1], "hostname") == nil
}

// cloudflaredPaths reads one cloudflared config.yaml. The paths are named
// after configName.
func cloudflaredPaths(root *yaml.Node, f fieldReader, configName string) ([]ClientPath, error) {
	rules := yamlItems(yamlGet(root, "ingress"))
	if len(rules) == 0 {
		return nil, nil
	}
	defaultSNI, _, err := f.text(yamlDig(root, "originRequest", "originServerName"))
	if err != nil {
		return nil, err
	}
	defaultMatch, _ := yamlScalar(yamlDig(root, "originRequest", "matchSNItoHost"))

	var paths []ClientPath
	index := map[string]int{}
	for _, rule := range rules {
		service, _, err := f.text(yamlGet(rule, "service"))
		if err != nil {
			return nil, err
		}
		gateway, host, ok := clusterServiceGateway(service)
		if !ok {
			continue
		}
		match, set := yamlScalar(yamlDig(rule, "originRequest", "matchSNItoHost"))
		if !set {
			match = defaultMatch
		}
		if on, _ := yamlTruthy(match); on {
			continue
		}
		sni, _, err := f.text(yamlDig(rule, "originRequest", "originServerName"))
		if err != nil {
			return nil, err
		}
		if sni == "" {
			sni = defaultSNI
		}
		if sni == "" {
			sni = host
		}
		hostname, _, err := f.text(yamlGet(rule, "hostname"))
		if err != nil {
			return nil, err
		}
		key := gateway + "|" + sni
		i, seen := index[key]
		if !seen {
			i = len(paths)
			index[key] = i
			paths = append(paths, ClientPath{
				Kind: ClientPathFixedSNI, Gateway: gateway, ServerName: sni,
				Origin: Origin{File: f.file, Line: yamlLine(rule, 0)},
			})
		}
		// A catch-all rule (no hostname) adds no hostname, although the
		// path carries every host that reaches it.
		if hostname != "" && !contains(paths[i].Hostnames, hostname) {
			paths[i].Hostnames = append(paths[i].Hostnames, hostname)
		}
	}
	base := strings.TrimSuffix(strings.TrimSuffix(configName, "-configmap"), "-config")
	for i := range paths {
		paths[i].Name = base
		if len(paths) > 1 {
			paths[i].Name = fmt.Sprintf("%s-%d", base, i+1)
		}
	}
	return paths, nil
}

// clusterServiceGateway maps an https service URL of an in-cluster Service,
// https://<name>.<namespace>[.svc[.cluster.local]][:port], to
// "namespace/name" and returns the URL's host.
func clusterServiceGateway(service string) (gateway, host string, ok bool) {
	u, err := url.Parse(service)
	if err != nil || u.Scheme != "https" {
		return "", "", false
	}
	host = u.Hostname()
	labels := strings.Split(host, ".")
	if len(labels) < 2 || labels[0] == "" || labels[1] == "" || (len(labels) > 2 && labels[2] != "svc") {
		return "", "", false
	}
	return labels[1] + "/" + labels[0], host, true
}

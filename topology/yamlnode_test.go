package topology

import (
	"strings"
	"testing"
)

func TestParseYAMLDocumentsSkipsEmpty(t *testing.T) {
	docs, err := parseYAMLDocuments("f.yaml", []byte("---\n# only a comment\n---\na: 1\n---\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 1 {
		t.Errorf("got %d documents, want 1", len(docs))
	}
}

func TestParseYAMLDocumentsErrorNamesFileAndLine(t *testing.T) {
	_, err := parseYAMLDocuments("dir/f.yaml", []byte("a: 1\nb: [1, 2\nc: 3\n"))
	if err == nil {
		t.Fatal("want an error")
	}
	if !strings.HasPrefix(err.Error(), "dir/f.yaml:2:") {
		t.Errorf("error = %q, want it to start with dir/f.yaml:2:", err)
	}
	if !strings.Contains(err.Error(), "invalid YAML") {
		t.Errorf("error = %q, want it to say invalid YAML", err)
	}
}

func TestYAMLPairsMergeKeysAndAliases(t *testing.T) {
	docs, err := parseYAMLDocuments("f.yaml", []byte(`
base: &base
  a: from-base
  b: from-base
child:
  <<: *base
  b: own
name: &app shop
ref: *app
`))
	if err != nil {
		t.Fatal(err)
	}
	root := docs[0].root
	child := yamlGet(root, "child")
	for key, want := range map[string]string{"a": "from-base", "b": "own"} {
		if got, _ := yamlScalar(yamlGet(child, key)); got != want {
			t.Errorf("child.%s = %q, want %q", key, got, want)
		}
	}
	if got, _ := yamlScalar(yamlGet(root, "ref")); got != "shop" {
		t.Errorf("ref = %q, want the aliased shop", got)
	}
}

// FuzzLoadYAML feeds a manifest file through parsing, object extraction and
// every reader of the inventory builder. Errors are expected, and a panic
// fails.
func FuzzLoadYAML(f *testing.F) {
	seeds := []string{
		"apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: g}\nspec:\n  listeners:\n  - {name: https, port: 443, protocol: HTTPS, tls: {certificateRefs: [{name: x}]}}\n",
		"apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r}\nspec: {hostnames: [a.${D}], parentRefs: [{name: g, port: 443}]}\n",
		"apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: c}\nspec: {secretName: s, dnsNames: ['*.${D}'], duration: 1h, secretTemplate: {annotations: {a: b}}}\n",
		"apiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata: {name: i}\nspec: {acme: {server: s, solvers: [{dns01: {cloudflare: {}}}]}}\n",
		"apiVersion: v1\nkind: Secret\nmetadata: {name: s, annotations: {reflector.v1.k8s.emberstack.com/reflection-allowed: 'true'}}\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: tunnel}\ndata:\n  config.yaml: |\n    ingress:\n      - hostname: a\n        service: https://gw.ns.svc:443\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: vals}\ndata:\n  values.yaml: |\n    route: {main: {hostnames: [x]}}\n",
		"apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: h}\nspec:\n  chart: {spec: {chart: app-template}}\n  valuesFrom: [{kind: ConfigMap, name: vals}]\n  values: {route: {a: {hostnames: ['{{ .Release.Name }}'], parentRefs: [{name: g}]}, b: {enabled: false}}}\n",
		"apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: cm}\nspec: {chart: {spec: {chart: cert-manager}}, values: {extraArgs: [--enable-gateway-api], config: {gatewayAPI: {enabled: true}}}}\n",
		"apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: k}\nspec: {chart: {spec: {chart: kube-prometheus-stack}}, values: {alertmanager: {route: {main: {enabled: true}}}}}\n",
		"apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: r}\nspec: {chart: {spec: {chart: rook-ceph-cluster}}, values: {route: {dashboard: {host: {name: x}}}, cephObjectStores: [{name: s, route: {enabled: true}}]}}\n",
		"apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: o}\nspec: {chart: {spec: {chart: renovate-operator}}, values: {route: {enabled: true}}}\n",
		"apiVersion: v1\nkind: List\nitems: [{apiVersion: v1, kind: Secret, metadata: {name: s}}]\n",
		"a: &a [*a]\n", "- 1\n- 2\n", "a: {b: *x}\n", "<<: *a\n", "'\n", "key: [unclosed\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	scope := &fluxScope{name: "test/fuzz", vars: map[string]string{"D": "example.com"}}
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := parseYAMLDocuments("fuzz.yaml", data)
		if err != nil {
			return
		}
		var objs []*renderedObject
		for _, d := range docs {
			objs = append(objs, objectsFromDocument(d.file, d.root)...)
		}
		for _, o := range objs {
			o.scope = scope
		}
		inv, err := buildInventoryFrom(objs, "")
		if err != nil {
			return
		}
		inv.Finalize()
		_ = inv.Attachments()
	})
}

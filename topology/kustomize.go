package topology

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// renderedObject is one object of a kustomize build, before Flux variable
// substitution. Strings stay as written, and readers substitute only the
// fields they use, so a variable in a field no reader uses needs no value.
type renderedObject struct {
	file       string     // path relative to the loaded folder
	line       int        // first line of the document
	root       *yaml.Node // the document; nil for generated ConfigMaps
	apiVersion string
	kind       string
	name       string // metadata.name as written
	namespace  string // metadata.namespace after kustomize and Flux overrides
	// commonAnnotations are the kustomize commonAnnotations applied to the
	// object, innermost kustomization first.
	commonAnnotations []map[string]string
	generated         *generatedConfigMap
	scope             *fluxScope // the Flux Kustomization that applies it
}

// generatedConfigMap is the output of a configMapGenerator entry.
type generatedConfigMap struct {
	keys        []string // in generator order
	data        map[string]generatedValue
	annotations map[string]string
}

// generatedValue is one data key of a generated ConfigMap and where its text
// came from.
type generatedValue struct {
	text string
	file string
	line int
}

// includeSite is the file and line of the entry that includes a path, for
// error messages.
type includeSite struct {
	file string
	line int
}

func (s includeSite) String() string {
	if s.line == 0 {
		return s.file
	}
	return fmt.Sprintf("%s:%d", s.file, s.line)
}

// kustomizeRenderer builds kustomize directories the way `kustomize build`
// does, for the fields that build lists.
type kustomizeRenderer struct {
	root  string   // absolute repository root; includes may not leave it
	base  string   // absolute folder that file names are relative to
	stack []string // kustomization folders being built, outermost first
	// remote counts remote resources (URLs), which are not fetched.
	remote int
}

// relativeName returns path relative to the loaded folder, with slashes.
func (r *kustomizeRenderer) relativeName(path string) string {
	rel, err := filepath.Rel(r.base, path)
	if err != nil {
		return filepath.ToSlash(path)
	}
	return filepath.ToSlash(rel)
}

// kustomizationFileNames are the names kustomize looks for, in its order.
var kustomizationFileNames = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// findKustomizationFile returns the kustomization file of dir, or "".
func findKustomizationFile(dir string) string {
	for _, name := range kustomizationFileNames {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

// extraComponent is a component added to a kustomization from outside, as
// Flux does with spec.components: an absolute folder and the entry naming
// it.
type extraComponent struct {
	dir  string
	site includeSite
}

// build renders the kustomization in dir. It reads resources (files and
// folders), components, configMapGenerator, commonAnnotations and
// namespace; fields that would change objects the inventory reads in ways
// it does not model are rejected by checkKustomizationFields. extra
// components are built after the kustomization's own, so its namespace
// applies to them.
func (r *kustomizeRenderer) build(dir string, site includeSite, component bool, extra []extraComponent) ([]*renderedObject, error) {
	for i, open := range r.stack {
		if open == dir {
			chain := make([]string, 0, len(r.stack)-i+1)
			for _, d := range r.stack[i:] {
				chain = append(chain, r.relativeName(d))
			}
			chain = append(chain, r.relativeName(dir))
			return nil, fmt.Errorf("%s: include cycle: %s", site, strings.Join(chain, " -> "))
		}
	}
	kfile := findKustomizationFile(dir)
	if kfile == "" {
		return nil, fmt.Errorf("%s: folder %s has no kustomization.yaml, which kustomize requires for a folder resource", site, r.relativeName(dir))
	}
	r.stack = append(r.stack, dir)
	defer func() { r.stack = r.stack[:len(r.stack)-1] }()

	name := r.relativeName(kfile)
	data, err := os.ReadFile(kfile)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", site, err)
	}
	docs, err := parseYAMLDocuments(name, data)
	if err != nil {
		return nil, err
	}
	var k *yaml.Node
	if len(docs) > 0 {
		k = docs[0].root
	}
	if len(docs) > 1 || (k != nil && !yamlIsMap(k)) {
		return nil, fmt.Errorf("%s: a kustomization must be one YAML mapping", name)
	}
	kind, _ := yamlScalar(yamlGet(k, "kind"))
	switch {
	case component && kind != "Component":
		return nil, fmt.Errorf("%s: %s is listed under components but its kind is %q, not Component", site, name, kind)
	case !component && kind == "Component":
		return nil, fmt.Errorf("%s: %s is a Component and must be listed under components, not resources", site, name)
	}
	if err := r.checkKustomizationFields(name, dir, k); err != nil {
		return nil, err
	}

	var out []*renderedObject
	for _, field := range []string{"resources", "bases"} {
		for _, entry := range yamlItems(yamlGet(k, field)) {
			objs, err := r.resource(dir, name, entry)
			if err != nil {
				return nil, err
			}
			out = append(out, objs...)
		}
	}
	var own []extraComponent
	for _, entry := range yamlItems(yamlGet(k, "components")) {
		rel, ok := yamlScalar(entry)
		entrySite := includeSite{name, yamlLine(entry, 0)}
		if !ok || rel == "" {
			return nil, fmt.Errorf("%s: a component entry must be a path", entrySite)
		}
		target, err := r.localPath(dir, rel, entrySite)
		if err != nil {
			return nil, err
		}
		own = append(own, extraComponent{dir: target, site: entrySite})
	}
	for _, c := range append(own, extra...) {
		objs, err := r.build(c.dir, c.site, true, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	generated, err := r.configMapGenerators(dir, name, k)
	if err != nil {
		return nil, err
	}
	out = append(out, generated...)

	if annotations := yamlStringMap(yamlGet(k, "commonAnnotations")); len(annotations) > 0 {
		for _, o := range out {
			o.commonAnnotations = append(o.commonAnnotations, annotations)
		}
	}
	if ns, ok := yamlScalar(yamlGet(k, "namespace")); ok && ns != "" {
		setNamespace(out, ns)
	}
	return out, nil
}

// resource renders one entry of resources: a file, a folder with its own
// kustomization, or a remote URL, which is counted and not fetched.
func (r *kustomizeRenderer) resource(dir, kfile string, entry *yaml.Node) ([]*renderedObject, error) {
	site := includeSite{kfile, yamlLine(entry, 0)}
	rel, ok := yamlScalar(entry)
	if !ok || rel == "" {
		return nil, fmt.Errorf("%s: a resource entry must be a path", site)
	}
	if isRemoteResource(rel) {
		// NOTE: remote bases and URLs are counted in Skipped, not fetched;
		// objects they hold are missing from the inventory.
		r.remote++
		return nil, nil
	}
	target, err := r.localPath(dir, rel, site)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(target)
	if err != nil {
		return nil, fmt.Errorf("%s: resource %s not found", site, rel)
	}
	if st.IsDir() {
		return r.build(target, site, false, nil)
	}
	return r.readFile(target)
}

// readFile returns the objects of a manifest file.
func (r *kustomizeRenderer) readFile(path string) ([]*renderedObject, error) {
	name := r.relativeName(path)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	docs, err := parseYAMLDocuments(name, data)
	if err != nil {
		return nil, err
	}
	var out []*renderedObject
	for _, d := range docs {
		out = append(out, objectsFromDocument(d.file, d.root)...)
	}
	return out, nil
}

// objectsFromDocument turns one document into objects; a v1 List yields its
// items. Anything that is not a mapping becomes an object without a kind,
// which the loader counts as skipped.
func objectsFromDocument(file string, root *yaml.Node) []*renderedObject {
	n := yamlResolve(root)
	o := &renderedObject{file: file, line: yamlLine(root, 1), root: n}
	if !yamlIsMap(n) {
		return []*renderedObject{o}
	}
	o.apiVersion, _ = yamlScalar(yamlGet(n, "apiVersion"))
	o.kind, _ = yamlScalar(yamlGet(n, "kind"))
	o.name, _ = yamlScalar(yamlDig(n, "metadata", "name"))
	o.namespace, _ = yamlScalar(yamlDig(n, "metadata", "namespace"))
	if o.kind == "List" && strings.HasPrefix(o.apiVersion, "v1") {
		var out []*renderedObject
		for _, item := range yamlItems(yamlGet(n, "items")) {
			out = append(out, objectsFromDocument(file, item)...)
		}
		return out
	}
	return []*renderedObject{o}
}

// localPath resolves a relative include and rejects paths that leave the
// repository.
func (r *kustomizeRenderer) localPath(dir, rel string, site includeSite) (string, error) {
	target := filepath.Clean(filepath.Join(dir, filepath.FromSlash(rel)))
	if filepath.IsAbs(filepath.FromSlash(rel)) {
		target = filepath.Clean(rel)
	}
	inside, err := filepath.Rel(r.root, target)
	if err != nil || inside == ".." || strings.HasPrefix(inside, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("%s: path %s is outside the repository", site, rel)
	}
	return target, nil
}

func isRemoteResource(rel string) bool {
	return strings.Contains(rel, "://") || strings.HasPrefix(rel, "github.com/") ||
		strings.HasPrefix(rel, "git@") || strings.HasPrefix(rel, "gitlab.com/")
}

// clusterScopedKinds are kinds whose objects have no namespace; kustomize
// and Flux leave them alone when they set a namespace. Kinds not listed are
// taken as namespaced, as kustomize does for custom resources.
var clusterScopedKinds = map[string]bool{
	"APIService": true, "CSIDriver": true, "ClusterExternalSecret": true,
	"ClusterIssuer": true, "ClusterPolicy": true, "ClusterRole": true,
	"ClusterRoleBinding": true, "ClusterSecretStore": true,
	"CustomResourceDefinition": true, "GatewayClass": true, "IngressClass": true,
	"MutatingWebhookConfiguration": true, "Namespace": true, "Node": true,
	"PersistentVolume": true, "PriorityClass": true, "RuntimeClass": true,
	"StorageClass": true, "ValidatingWebhookConfiguration": true,
	"VolumeSnapshotClass": true, "ClusterRenovateJobTemplate": true,
}

// setNamespace overrides the namespace of every namespaced object, as the
// kustomize namespace field and Flux spec.targetNamespace do.
func setNamespace(objs []*renderedObject, ns string) {
	for _, o := range objs {
		if o.kind != "" && !clusterScopedKinds[o.kind] {
			o.namespace = ns
		}
	}
}

// yamlStringMap reads a mapping of scalars, as written.
func yamlStringMap(n *yaml.Node) map[string]string {
	pairs := yamlPairs(n)
	if len(pairs) == 0 {
		return nil
	}
	out := make(map[string]string, len(pairs))
	for _, p := range pairs {
		if v, ok := yamlScalar(p.value); ok {
			out[p.key.Value] = v
		}
	}
	return out
}

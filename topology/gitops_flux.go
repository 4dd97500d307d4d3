package topology

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// follow renders the spec.path of a Flux Kustomization the way
// kustomize-controller does: the folder's kustomization (or every manifest
// in it when it has none) with spec.components added to it, and
// spec.targetNamespace set on namespaced objects. The objects get the
// Kustomization's variables, and the Flux Kustomizations among them are
// followed in turn.
//
// Only Kustomizations whose sourceRef is a GitRepository (or unset) are
// followed, because an OCIRepository or Bucket source is not this
// repository. NOTE: spec.patches of a Flux Kustomization is not applied. In
// the trees this loader was built for, such patches tune controllers and
// not the objects read here.
func (l *gitopsLoader) follow(ks *renderedObject) error {
	f := objectReader(ks)
	spec := yamlGet(ks.root, "spec")
	sourceKind, _, err := f.text(yamlDig(spec, "sourceRef", "kind"))
	if err != nil {
		return err
	}
	if sourceKind != "" && sourceKind != "GitRepository" {
		return nil
	}
	pathNode := yamlGet(spec, "path")
	rel, _, err := f.text(pathNode)
	if err != nil {
		return err
	}
	if rel == "" {
		rel = "./"
	}
	site := includeSite{ks.file, yamlLine(pathNode, ks.line)}
	dir, err := l.renderer.localPath(l.renderer.root, rel, site)
	if err != nil {
		return err
	}
	for i, open := range l.fluxStack {
		if open == dir {
			chain := []string{}
			for _, d := range l.fluxStack[i:] {
				chain = append(chain, l.renderer.relativeName(d))
			}
			chain = append(chain, l.renderer.relativeName(dir))
			return fmt.Errorf("%s: Flux Kustomization cycle: %s", site, strings.Join(chain, " -> "))
		}
	}
	if !isDir(dir) {
		return fmt.Errorf("%s: spec.path %s: folder not found", site, rel)
	}

	var components []extraComponent
	for _, entry := range yamlItems(yamlGet(spec, "components")) {
		relComponent, _, err := f.text(entry)
		if err != nil {
			return err
		}
		entrySite := includeSite{ks.file, yamlLine(entry, 0)}
		target, err := l.renderer.localPath(dir, relComponent, entrySite)
		if err != nil {
			return err
		}
		components = append(components, extraComponent{dir: target, site: entrySite})
	}
	objs, err := l.buildFluxPath(dir, site, components)
	if err != nil {
		return err
	}
	targetNamespace, _, err := f.text(yamlGet(spec, "targetNamespace"))
	if err != nil {
		return err
	}
	if targetNamespace != "" {
		setNamespace(objs, targetNamespace)
	}

	scope, err := l.fluxScopeOf(ks, f, spec)
	if err != nil {
		return err
	}
	l.fluxStack = append(l.fluxStack, dir)
	defer func() { l.fluxStack = l.fluxStack[:len(l.fluxStack)-1] }()
	return l.adopt(objs, scope)
}

// buildFluxPath builds a spec.path folder with spec.components added to its
// kustomization. Without a kustomization file, kustomize-controller
// generates one from the manifests below the folder. Here every YAML file
// below it is read, and a subfolder with its own kustomization is built as
// a unit.
func (l *gitopsLoader) buildFluxPath(dir string, site includeSite, components []extraComponent) ([]*renderedObject, error) {
	if findKustomizationFile(dir) != "" {
		return l.renderer.build(dir, site, false, components)
	}
	var out []*renderedObject
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p == dir || findKustomizationFile(p) == "" {
				return nil
			}
			objs, err := l.renderer.build(p, site, false, nil)
			out = append(out, objs...)
			if err != nil {
				return err
			}
			return filepath.SkipDir
		}
		if !isYAMLFile(p) {
			return nil
		}
		objs, err := l.renderer.readFile(p)
		out = append(out, objs...)
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, c := range components {
		objs, err := l.renderer.build(c.dir, c.site, true, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	return out, nil
}

// fluxScopeOf collects the variables of a Flux Kustomization. Its own
// fields were substituted by the Kustomization that applied it, so they are
// read through f.
func (l *gitopsLoader) fluxScopeOf(ks *renderedObject, f fieldReader, spec *yaml.Node) (*fluxScope, error) {
	name, _, err := f.text(yamlDig(ks.root, "metadata", "name"))
	if err != nil {
		return nil, err
	}
	namespace, _, err := f.text(yamlDig(ks.root, "metadata", "namespace"))
	if err != nil {
		return nil, err
	}
	if ks.namespace != "" {
		namespace, err = f.substitute(ks.namespace, ks.line)
		if err != nil {
			return nil, err
		}
	}

	var layers []map[string]string
	postBuild := yamlGet(spec, "postBuild")
	for _, ref := range yamlItems(yamlGet(postBuild, "substituteFrom")) {
		kind, _, err := f.text(yamlGet(ref, "kind"))
		if err != nil {
			return nil, err
		}
		refName, _, err := f.text(yamlGet(ref, "name"))
		if err != nil {
			return nil, err
		}
		// Secrets are not in the tree because they are encrypted or come
		// from an external store. A missing ConfigMap is skipped as if it
		// were optional. A variable that only they define must be given
		// with --set, and the error for a read field names the flag.
		if kind == "ConfigMap" {
			layers = append(layers, l.configMaps[refName])
		}
	}

	own := map[string]string{}
	for _, p := range yamlPairs(yamlGet(postBuild, "substitute")) {
		v, _, err := f.text(p.value)
		if err != nil {
			return nil, err
		}
		own[p.key.Value] = v
	}
	layers = append(layers, own)
	return &fluxScope{name: namespace + "/" + name, vars: l.scopeVars(layers)}, nil
}

// fluxSubstituteKey is the annotation or label that turns Flux substitution
// off for one object when set to "disabled".
const fluxSubstituteKey = "kustomize.toolkit.fluxcd.io/substitute"

// fieldReader reads scalar fields of one object or values file and
// substitutes Flux variables in them.
type fieldReader struct {
	file     string
	scope    *fluxScope
	disabled bool
}

// objectReader returns the reader for the fields of o. Substitution is off
// when o carries kustomize.toolkit.fluxcd.io/substitute: disabled as an
// annotation or label, as in kustomize-controller.
func objectReader(o *renderedObject) fieldReader {
	disabled := false
	if o.generated != nil {
		disabled = o.generated.annotations[fluxSubstituteKey] == "disabled"
	} else {
		meta := yamlGet(o.root, "metadata")
		for _, field := range []string{"annotations", "labels"} {
			if v, _ := yamlScalar(yamlGet(yamlGet(meta, field), fluxSubstituteKey)); v == "disabled" {
				disabled = true
			}
		}
	}
	return fieldReader{file: o.file, scope: o.scope, disabled: disabled}
}

// text returns the substituted text of a scalar node and whether the node
// is a non-null scalar.
func (f fieldReader) text(n *yaml.Node) (string, bool, error) {
	v, ok := yamlScalar(n)
	if !ok {
		return "", false, nil
	}
	out, err := f.substitute(v, yamlLine(n, 0))
	return out, true, err
}

// substitute expands Flux variables in s, which was read at line of the
// reader's file.
func (f fieldReader) substitute(s string, line int) (string, error) {
	if f.disabled {
		return s, nil
	}
	out, err := substituteVars(s, f.scope.lookup)
	if err == nil {
		return out, nil
	}
	where := includeSite{f.file, line}.String()
	if name, ok := isUndefinedVariable(err); ok {
		by := ""
		if f.scope != nil {
			by = " (substituted by Flux Kustomization " + f.scope.name + ")"
		}
		return "", fmt.Errorf("%s: variable %s is not set%s; pass --set %s=VALUE", where, name, by, name)
	}
	return "", fmt.Errorf("%s: %w", where, err)
}

// textList returns the substituted scalars of a sequence node.
func (f fieldReader) textList(n *yaml.Node) ([]string, error) {
	var out []string
	for _, item := range yamlItems(n) {
		v, ok, err := f.text(item)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, v)
		}
	}
	return out, nil
}

// textMap returns the substituted scalars of a mapping node.
func (f fieldReader) textMap(n *yaml.Node) (map[string]string, error) {
	pairs := yamlPairs(n)
	if len(pairs) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(pairs))
	for _, p := range pairs {
		v, ok, err := f.text(p.value)
		if err != nil {
			return nil, err
		}
		if ok {
			out[p.key.Value] = v
		}
	}
	return out, nil
}

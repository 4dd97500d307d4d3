package gitops

import (
	"fmt"
	"path"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// AddManifest adds a new file holding doc, a YAML document, in the folder
// of the manifest of near (kind and namespace/name, or name when
// cluster-scoped). It lists the file in that folder's kustomization.yaml
// resources when the folder has one, so the same Flux Kustomization applies
// it. namespace is the namespace of doc's object, empty when
// cluster-scoped. The folder must be applied in that namespace, because a
// Kustomization's targetNamespace would move the object. Adding the same
// document again changes nothing; a file of that name with other content
// is an error.
func (r *Repo) AddManifest(nearKind, near, namespace, fileName, doc string) error {
	m, err := r.lookup(nearKind, near)
	if err != nil {
		return fmt.Errorf("add %s next to %s %s: %w", fileName, nearKind, near, err)
	}
	dir := pathDir(m.file.path)
	p := path.Join(dir, fileName)
	if namespace != "" && m.namespace != "" && m.namespace != namespace {
		return fmt.Errorf("add %s: %s is applied in namespace %s, not %s; add the manifest by hand where namespace %s is applied", p, dir, m.namespace, namespace, namespace)
	}
	text := strings.TrimSuffix(doc, "\n") + "\n"
	if f, ok := r.files[p]; ok && !f.deleted {
		if f.text() == text {
			return nil
		}
		return fmt.Errorf("add %s: the file exists with other content; remove it or pick another name", p)
	}

	f := &file{path: p}
	f.setText(text)
	if err := f.parse(); err != nil {
		return fmt.Errorf("add %s: %w", p, err)
	}
	r.files[p] = f
	r.paths = insertSorted(r.paths, p)
	return r.listResource(dir, fileName)
}

// listResource appends name to the resources of the kustomization.yaml in
// dir, unless it is there already or dir has none.
func (r *Repo) listResource(dir, name string) error {
	for _, base := range []string{"kustomization.yaml", "kustomization.yml", "Kustomization"} {
		k, ok := r.files[path.Join(dir, base)]
		if !ok || k.deleted {
			continue
		}
		for _, kd := range k.docs {
			if kd.root == nil || kd.kind != "Kustomization" || !strings.HasPrefix(kd.apiVersion, "kustomize.config.k8s.io/") {
				continue
			}
			resources := get(kd.root, "resources")
			if resources == nil || resources.Kind != yaml.SequenceNode || len(resources.Content) == 0 {
				return fmt.Errorf("%s: no block list of resources to add %s to; add it by hand", k.path, name)
			}
			if resources.Style&yaml.FlowStyle != 0 {
				return fmt.Errorf("%s: resources is a flow-style list; add %s by hand", k.path, name)
			}
			for _, item := range resources.Content {
				if scalar(item) == name {
					return nil
				}
			}
			last := resources.Content[len(resources.Content)-1]
			dash, err := dashColumn(k, last)
			if err != nil {
				return err
			}
			_, at := lineSpan(k, kd, last)
			item := strNode(name)
			lines, err := renderItem(item, dash, indentStep(kd))
			if err != nil {
				return err
			}
			resources.Content = append(resources.Content, item)
			return apply(k, kd, false, []splice{{from: at, to: at, lines: lines}})
		}
	}
	return nil
}

// insertSorted inserts s into the sorted list.
func insertSorted(list []string, s string) []string {
	i := 0
	for i < len(list) && list[i] < s {
		i++
	}
	return append(list[:i], append([]string{s}, list[i:]...)...)
}

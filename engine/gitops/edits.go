package gitops

import (
	"fmt"
	"path"
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v3"

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
	r.removed[certificate] = true
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
		if r.removed[certificate] {
			return nil
		}
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

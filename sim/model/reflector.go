package model

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"sort"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/certwave/certwave/topology"
)

// Annotations emberstack reflector puts on the mirrors it maintains.
const (
	annotationAutoReflects     = "reflector.v1.k8s.emberstack.com/auto-reflects"
	annotationReflectedVersion = "reflector.v1.k8s.emberstack.com/reflected-version"
)

const reflectorFieldOwner = "reflector"

// syncReflector models emberstack reflector for Secrets. A source allows
// reflection with reflection-allowed and reflection-allowed-namespaces
// (comma-separated regular expressions, all namespaces when empty) and
// creates mirrors by itself with reflection-auto-enabled and
// reflection-auto-namespaces. A mirror gets the source's type and data and
// reflector's own annotations, nothing else. Whenever the source's
// resource version differs from the one a mirror records, reflector
// overwrites the mirror's data, even when cert-manager has taken the
// mirror over. Auto mirrors are deleted when the source goes away or stops
// allowing their namespace.
func (w *World) syncReflector() bool {
	if w.unchanged("reflector", "Secret", "Namespace") {
		return false
	}
	ctx := context.Background()
	// The lists share their items with the client's cache, so the loops
	// below only read them and write copies.
	var secrets corev1.SecretList
	if err := w.listShared(ctx, &secrets); err != nil {
		w.recordError("list Secrets", err)
		return false
	}
	var namespaces corev1.NamespaceList
	if err := w.listShared(ctx, &namespaces); err != nil {
		w.recordError("list Namespaces", err)
		return false
	}
	byKey := map[string]*corev1.Secret{}
	var keys []string
	for i := range secrets.Items {
		s := &secrets.Items[i]
		k := s.Namespace + "/" + s.Name
		byKey[k] = s
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var nsNames []string
	for _, ns := range namespaces.Items {
		nsNames = append(nsNames, ns.Name)
	}
	sort.Strings(nsNames)

	changed := false
	for _, k := range keys {
		src := byKey[k]
		r := topology.ParseReflection(src.Annotations)
		if r == nil || !r.Allowed || !r.AutoEnabled {
			continue
		}
		for _, ns := range nsNames {
			if ns == src.Namespace || !autoReflects(r, ns) {
				continue
			}
			mirror := byKey[ns+"/"+src.Name]
			switch {
			case mirror == nil:
				if w.createMirror(src, ns) {
					changed = true
				}
			case mirror.Annotations[topology.AnnotationReflects] != k:
				// An existing Secret that is not this source's mirror is
				// left alone.
			}
		}
	}
	for _, k := range keys {
		m := byKey[k]
		srcKey, ok := m.Annotations[topology.AnnotationReflects]
		if !ok {
			continue
		}
		src := byKey[srcKey]
		auto := strings.EqualFold(m.Annotations[annotationAutoReflects], "true")
		var r *topology.Reflection
		if src != nil {
			r = topology.ParseReflection(src.Annotations)
		}
		allowed := r != nil && r.Allowed && namespaceMatches(r.AllowedNamespaces, m.Namespace)
		if auto && (src == nil || !allowed || !r.AutoEnabled || !autoReflects(r, m.Namespace)) {
			if err := w.api.Delete(ctx, m); err != nil {
				w.recordError("delete mirror Secret/"+k, err)
				continue
			}
			w.record(traceReflector, "Secret/"+k, "auto mirror deleted: source %s no longer reflects into %s", srcKey, m.Namespace)
			changed = true
			continue
		}
		if src == nil || !allowed || m.Annotations[annotationReflectedVersion] == src.ResourceVersion {
			continue
		}
		if w.updateMirror(src, m) {
			changed = true
		}
	}
	return changed
}

// autoReflects reports whether reflector creates a mirror in ns.
func autoReflects(r *topology.Reflection, ns string) bool {
	if !r.Allowed || !r.AutoEnabled || !namespaceMatches(r.AllowedNamespaces, ns) {
		return false
	}
	return namespaceMatches(r.AutoNamespaces, ns)
}

// namespaceMatches matches reflector's namespace list: empty allows all,
// each entry is a regular expression matched against the whole name.
func namespaceMatches(patterns []string, ns string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		re, err := compileNamespacePattern(p)
		if err != nil {
			if p == ns {
				return true
			}
			continue
		}
		if re.MatchString(ns) {
			return true
		}
	}
	return false
}

// namespacePatterns caches compiled namespace patterns, which every
// reflector sync matches against every namespace. Worlds on several
// goroutines share it.
var namespacePatterns = struct {
	sync.Mutex
	compiled map[string]*regexp.Regexp
	invalid  map[string]error
}{compiled: map[string]*regexp.Regexp{}, invalid: map[string]error{}}

// compileNamespacePattern compiles a reflector namespace pattern anchored
// to the whole name, once per pattern.
func compileNamespacePattern(p string) (*regexp.Regexp, error) {
	namespacePatterns.Lock()
	defer namespacePatterns.Unlock()
	if re, ok := namespacePatterns.compiled[p]; ok {
		return re, nil
	}
	if err, ok := namespacePatterns.invalid[p]; ok {
		return nil, err
	}
	re, err := regexp.Compile("^(?:" + p + ")$")
	if err != nil {
		namespacePatterns.invalid[p] = err
		return nil, err
	}
	namespacePatterns.compiled[p] = re
	return re, nil
}

func (w *World) createMirror(src *corev1.Secret, ns string) bool {
	m := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: src.Name,
			Annotations: map[string]string{
				topology.AnnotationReflects: src.Namespace + "/" + src.Name,
				annotationAutoReflects:      "True",
				annotationReflectedVersion:  src.ResourceVersion,
			},
		},
		Type: src.Type,
		Data: maps.Clone(src.Data),
	}
	w.stampNew(m)
	if err := w.api.Create(context.Background(), m, client.FieldOwner(reflectorFieldOwner)); err != nil {
		w.recordError(fmt.Sprintf("create mirror Secret/%s/%s", ns, src.Name), err)
		return false
	}
	w.record(traceReflector, "Secret/"+ns+"/"+src.Name, "auto mirror created from %s/%s", src.Namespace, src.Name)
	return true
}

// updateMirror overwrites a mirror's data with the source's and records the
// source version; other annotations, cert-manager's included, stay. The
// type stays as created, since a Secret's type is immutable.
func (w *World) updateMirror(src, m *corev1.Secret) bool {
	updated := m.DeepCopy()
	updated.Data = maps.Clone(src.Data)
	updated.Annotations[annotationReflectedVersion] = src.ResourceVersion
	takenOver := m.Annotations["cert-manager.io/certificate-name"] != ""
	if err := w.api.Update(context.Background(), updated, client.FieldOwner(reflectorFieldOwner)); err != nil {
		w.recordError("update mirror Secret/"+m.Namespace+"/"+m.Name, err)
		return false
	}
	detail := "mirror overwritten from " + src.Namespace + "/" + src.Name
	if takenOver {
		detail += " although Certificate " + m.Annotations["cert-manager.io/certificate-name"] + " writes it"
	}
	w.record(traceReflector, "Secret/"+m.Namespace+"/"+m.Name, "%s", detail)
	return true
}

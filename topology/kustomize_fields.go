package topology

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// unsupportedKustomizeFields change names or content of any object, so the
// inventory would be wrong without them.
var unsupportedKustomizeFields = []string{
	"namePrefix", "nameSuffix", "replacements", "helmCharts", "generators", "transformers",
}

// patchKustomizeFields are patch lists. A patch is accepted when it targets
// only kinds the loader never reads.
var patchKustomizeFields = []string{"patches", "patchesStrategicMerge", "patchesJson6902"}

// checkKustomizationFields rejects kustomization fields whose effect on the
// objects the inventory reads is not modelled.
func (r *kustomizeRenderer) checkKustomizationFields(kfile, dir string, k *yaml.Node) error {
	for _, field := range unsupportedKustomizeFields {
		if v := yamlGet(k, field); v != nil {
			return fmt.Errorf("%s:%d: kustomization field %s is not supported by the GitOps loader", kfile, yamlLine(v, 0), field)
		}
	}
	for _, field := range patchKustomizeFields {
		for _, entry := range yamlItems(yamlGet(k, field)) {
			kind := r.patchKind(dir, entry)
			if _, read := gitopsConsultedKinds[kind]; kind == "" || read {
				target := "an unknown kind"
				if kind != "" {
					target = kind
				}
				return fmt.Errorf("%s:%d: %s entry patches %s, which the GitOps loader does not apply; write the change into the patched manifest or load a tree without the patch", kfile, yamlLine(entry, 0), field, target)
			}
		}
	}
	return nil
}

// patchKind returns the kind a patch entry targets: target.kind, else the
// kind of the inline or referenced patch, else "".
func (r *kustomizeRenderer) patchKind(dir string, entry *yaml.Node) string {
	if kind, ok := yamlScalar(yamlDig(entry, "target", "kind")); ok {
		return kind
	}
	text, isText := yamlScalar(entry) // patchesStrategicMerge: path or inline
	if !isText {
		if inline, ok := yamlScalar(yamlGet(entry, "patch")); ok {
			text = inline
		} else if p, ok := yamlScalar(yamlGet(entry, "path")); ok {
			text = p
		}
	}
	if !strings.Contains(text, "\n") && text != "" {
		target, err := r.localPath(dir, text, includeSite{})
		if err != nil {
			return ""
		}
		data, err := os.ReadFile(target)
		if err != nil {
			return ""
		}
		text = string(data)
	}
	docs, err := parseYAMLDocuments("patch", []byte(text))
	if err != nil || len(docs) != 1 {
		return ""
	}
	kind, _ := yamlScalar(yamlGet(docs[0].root, "kind"))
	return kind
}

// configMapGenerators renders configMapGenerator entries: files (key=path
// or path), envs and literals, with generatorOptions and options
// annotations. Names get no hash suffix, so references by the plain name
// (valuesFrom, volumes) match. The behaviors merge and replace are read as
// create.
func (r *kustomizeRenderer) configMapGenerators(dir, kfile string, k *yaml.Node) ([]*renderedObject, error) {
	common := yamlStringMap(yamlDig(k, "generatorOptions", "annotations"))
	var out []*renderedObject
	for _, entry := range yamlItems(yamlGet(k, "configMapGenerator")) {
		site := includeSite{kfile, yamlLine(entry, 0)}
		name, _ := yamlScalar(yamlGet(entry, "name"))
		if name == "" {
			return nil, fmt.Errorf("%s: configMapGenerator entry has no name", site)
		}
		namespace, _ := yamlScalar(yamlGet(entry, "namespace"))
		cm := &generatedConfigMap{data: map[string]generatedValue{}, annotations: map[string]string{}}
		for key, value := range common {
			cm.annotations[key] = value
		}
		for key, value := range yamlStringMap(yamlDig(entry, "options", "annotations")) {
			cm.annotations[key] = value
		}
		if err := r.generatorFiles(dir, kfile, entry, cm); err != nil {
			return nil, err
		}
		for _, lit := range yamlItems(yamlGet(entry, "literals")) {
			text, _ := yamlScalar(lit)
			key, value, ok := strings.Cut(text, "=")
			if !ok || key == "" {
				return nil, fmt.Errorf("%s:%d: literal %q is not KEY=VALUE", kfile, yamlLine(lit, 0), text)
			}
			cm.add(key, generatedValue{text: unquote(value), file: kfile, line: yamlLine(lit, 0)})
		}
		out = append(out, &renderedObject{
			file: kfile, line: site.line, apiVersion: "v1", kind: "ConfigMap",
			name: name, namespace: namespace, generated: cm,
		})
	}
	return out, nil
}

func (cm *generatedConfigMap) add(key string, v generatedValue) {
	if _, ok := cm.data[key]; !ok {
		cm.keys = append(cm.keys, key)
	}
	cm.data[key] = v
}

// generatorFiles reads the files and envs of one generator entry.
func (r *kustomizeRenderer) generatorFiles(dir, kfile string, entry *yaml.Node, cm *generatedConfigMap) error {
	for _, f := range yamlItems(yamlGet(entry, "files")) {
		site := includeSite{kfile, yamlLine(f, 0)}
		spec, _ := yamlScalar(f)
		key, rel, ok := strings.Cut(spec, "=")
		if !ok {
			key, rel = filepath.Base(spec), spec
		}
		target, err := r.localPath(dir, rel, site)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(target)
		if err != nil {
			return fmt.Errorf("%s: configMapGenerator file %s not found", site, rel)
		}
		cm.add(key, generatedValue{text: string(data), file: r.relativeName(target), line: 1})
	}
	envs := yamlItems(yamlGet(entry, "envs"))
	if env := yamlGet(entry, "env"); env != nil {
		envs = append(envs, yamlResolve(env))
	}
	for _, e := range envs {
		site := includeSite{kfile, yamlLine(e, 0)}
		rel, _ := yamlScalar(e)
		target, err := r.localPath(dir, rel, site)
		if err != nil {
			return err
		}
		if err := r.readEnvFile(target, site, cm); err != nil {
			return err
		}
	}
	return nil
}

// readEnvFile reads KEY=VALUE lines and skips blank lines and # comments.
func (r *kustomizeRenderer) readEnvFile(path string, site includeSite, cm *generatedConfigMap) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%s: configMapGenerator env file %s not found", site, r.relativeName(path))
	}
	defer f.Close()
	name := r.relativeName(path)
	scanner := bufio.NewScanner(f)
	for line := 1; scanner.Scan(); line++ {
		text := strings.TrimSpace(scanner.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		key, value, ok := strings.Cut(text, "=")
		if !ok || key == "" {
			return fmt.Errorf("%s:%d: env line is not KEY=VALUE", name, line)
		}
		cm.add(key, generatedValue{text: unquote(value), file: name, line: line})
	}
	return scanner.Err()
}

// unquote strips one pair of matching surrounding quotes.
func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}

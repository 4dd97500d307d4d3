// Package golden is the format of the Envoy Gateway goldens under
// sim/model/testdata/envoygateway: the listener and route conditions that
// Envoy Gateway's translator computes for a small topology, reduced to what
// certwave's gateway model decides. The generator in
// hack/envoygateway-goldens writes the goldens from `egctl x translate`
// output, and the golden test in sim/model reduces the model's status with
// the same Reduce and compares the two with Compare.
package golden

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwapiv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"
)

// EnvoyGatewayController is the controllerName of Envoy Gateway's
// GatewayClass. Only route parents with this controller are kept.
const EnvoyGatewayController = "gateway.envoyproxy.io/gatewayclass-controller"

// Files of one case folder.
const (
	// ManifestsFile contains the hand-written objects of a case.
	ManifestsFile = "manifests.yaml"
	// CertificatesFile lists the TLS Secrets the generator creates.
	CertificatesFile = "certificates.yaml"
	// SecretsFile contains the generated TLS Secrets.
	SecretsFile = "secrets.yaml"
	// GoldenFile contains the reduced status that Envoy Gateway computed.
	GoldenFile = "golden.yaml"
)

// Status is the content of a golden file.
type Status struct {
	Gateways []Gateway `yaml:"gateways"`
	Routes   []Route   `yaml:"httpRoutes"`
}

// Gateway is the status of one Gateway's listeners.
type Gateway struct {
	Namespace string     `yaml:"namespace"`
	Name      string     `yaml:"name"`
	Listeners []Listener `yaml:"listeners"`
}

// Listener is one entry of a Gateway's status.listeners.
type Listener struct {
	Name           string      `yaml:"name"`
	AttachedRoutes int32       `yaml:"attachedRoutes"`
	Conditions     []Condition `yaml:"conditions"`
}

// Route is the status of one HTTPRoute.
type Route struct {
	Namespace string   `yaml:"namespace"`
	Name      string   `yaml:"name"`
	Parents   []Parent `yaml:"parents"`
}

// Parent is one entry of an HTTPRoute's status.parents, identified by its
// parentRef.
type Parent struct {
	// Gateway is the parent Gateway as namespace/name.
	Gateway     string      `yaml:"gateway"`
	SectionName string      `yaml:"sectionName,omitempty"`
	Port        int32       `yaml:"port,omitempty"`
	Conditions  []Condition `yaml:"conditions"`
}

// Condition is a status condition without its message and times.
type Condition struct {
	Type   string `yaml:"type"`
	Status string `yaml:"status"`
	Reason string `yaml:"reason"`
}

// Reduce keeps, per Gateway listener, the conditions and attachedRoutes,
// and per HTTPRoute parent of Envoy Gateway's controller the conditions.
// The Gateways' own conditions are left out because the model has no proxy
// deployment. Gateways, routes and conditions are sorted, and listeners
// and parents keep their order in the status.
func Reduce(gateways []gwapiv1.Gateway, routes []gwapiv1.HTTPRoute) Status {
	out := Status{Gateways: []Gateway{}, Routes: []Route{}}
	for _, gw := range gateways {
		g := Gateway{Namespace: gw.Namespace, Name: gw.Name, Listeners: []Listener{}}
		for _, l := range gw.Status.Listeners {
			g.Listeners = append(g.Listeners, Listener{
				Name:           string(l.Name),
				AttachedRoutes: l.AttachedRoutes,
				Conditions:     reduceConditions(l.Conditions),
			})
		}
		out.Gateways = append(out.Gateways, g)
	}
	for _, r := range routes {
		route := Route{Namespace: r.Namespace, Name: r.Name, Parents: []Parent{}}
		for _, p := range r.Status.Parents {
			if p.ControllerName != EnvoyGatewayController {
				continue
			}
			route.Parents = append(route.Parents, reduceParent(r.Namespace, p))
		}
		out.Routes = append(out.Routes, route)
	}
	sort.Slice(out.Gateways, func(i, j int) bool {
		return out.Gateways[i].Namespace+"/"+out.Gateways[i].Name < out.Gateways[j].Namespace+"/"+out.Gateways[j].Name
	})
	sort.Slice(out.Routes, func(i, j int) bool {
		return out.Routes[i].Namespace+"/"+out.Routes[i].Name < out.Routes[j].Namespace+"/"+out.Routes[j].Name
	})
	return out
}

func reduceParent(routeNamespace string, p gwapiv1.RouteParentStatus) Parent {
	ns := routeNamespace
	if p.ParentRef.Namespace != nil && *p.ParentRef.Namespace != "" {
		ns = string(*p.ParentRef.Namespace)
	}
	out := Parent{Gateway: ns + "/" + string(p.ParentRef.Name), Conditions: reduceConditions(p.Conditions)}
	if p.ParentRef.SectionName != nil {
		out.SectionName = string(*p.ParentRef.SectionName)
	}
	if p.ParentRef.Port != nil {
		out.Port = int32(*p.ParentRef.Port)
	}
	return out
}

func reduceConditions(conds []metav1.Condition) []Condition {
	out := []Condition{}
	for _, c := range conds {
		out = append(out, Condition{Type: c.Type, Status: string(c.Status), Reason: c.Reason})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Type < out[j].Type })
	return out
}

// Key returns the identity of a parent inside one route: the Gateway, then
// "#sectionName" and ":port" when the parentRef sets them.
func (p Parent) Key() string {
	key := p.Gateway
	if p.SectionName != "" {
		key += "#" + p.SectionName
	}
	if p.Port != 0 {
		key += fmt.Sprintf(":%d", p.Port)
	}
	return key
}

// Marshal renders a golden file: a comment header, then the status as YAML
// with the fields in the order of the types above.
func Marshal(header string, s Status) ([]byte, error) {
	var buf bytes.Buffer
	for _, line := range strings.Split(strings.TrimRight(header, "\n"), "\n") {
		buf.WriteString("# " + line + "\n")
	}
	enc := yamlv3.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(s); err != nil {
		return nil, fmt.Errorf("marshal golden status: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("marshal golden status: %w", err)
	}
	return buf.Bytes(), nil
}

// ReadStatus reads a golden file.
func ReadStatus(path string) (Status, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Status{}, err
	}
	var s Status
	dec := yamlv3.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		return Status{}, fmt.Errorf("invalid golden file %s: %w (regenerate it with `make envoygateway-goldens`)", path, err)
	}
	return s, nil
}

// Difference is one place where two statuses disagree.
type Difference struct {
	// Object is "Gateway ns/name listener L" or "HTTPRoute ns/name parent P".
	Object string
	// Field is a condition type, "attachedRoutes" or "presence".
	Field string
	// Want is the golden (Envoy Gateway) value and Got the compared one.
	Want, Got string
}

// ID names the difference without its values, for lists of known
// differences.
func (d Difference) ID() string { return d.Object + " " + d.Field }

func (d Difference) String() string {
	return fmt.Sprintf("%s: Envoy Gateway %s, model %s", d.ID(), d.Want, d.Got)
}

// Compare lists the differences between the golden status want and got:
// missing or extra Gateways, listeners, routes and parents, attachedRoutes,
// and each condition's status and reason.
func Compare(want, got Status) []Difference {
	var diffs []Difference
	gotGateways := map[string]Gateway{}
	for _, g := range got.Gateways {
		gotGateways[g.Namespace+"/"+g.Name] = g
	}
	for _, wg := range want.Gateways {
		key := wg.Namespace + "/" + wg.Name
		gg, ok := gotGateways[key]
		delete(gotGateways, key)
		if !ok {
			diffs = append(diffs, Difference{Object: "Gateway " + key, Field: "presence", Want: "present", Got: "missing"})
			continue
		}
		diffs = append(diffs, compareListeners("Gateway "+key, wg.Listeners, gg.Listeners)...)
	}
	for _, key := range sortedKeys(gotGateways) {
		diffs = append(diffs, Difference{Object: "Gateway " + key, Field: "presence", Want: "missing", Got: "present"})
	}

	gotRoutes := map[string]Route{}
	for _, r := range got.Routes {
		gotRoutes[r.Namespace+"/"+r.Name] = r
	}
	for _, wr := range want.Routes {
		key := wr.Namespace + "/" + wr.Name
		gr, ok := gotRoutes[key]
		delete(gotRoutes, key)
		if !ok {
			diffs = append(diffs, Difference{Object: "HTTPRoute " + key, Field: "presence", Want: "present", Got: "missing"})
			continue
		}
		diffs = append(diffs, compareParents("HTTPRoute "+key, wr.Parents, gr.Parents)...)
	}
	for _, key := range sortedKeys(gotRoutes) {
		diffs = append(diffs, Difference{Object: "HTTPRoute " + key, Field: "presence", Want: "missing", Got: "present"})
	}
	return diffs
}

func compareListeners(gateway string, want, got []Listener) []Difference {
	var diffs []Difference
	gotByName := map[string]Listener{}
	for _, l := range got {
		gotByName[l.Name] = l
	}
	for _, wl := range want {
		object := gateway + " listener " + wl.Name
		gl, ok := gotByName[wl.Name]
		delete(gotByName, wl.Name)
		if !ok {
			diffs = append(diffs, Difference{Object: object, Field: "presence", Want: "present", Got: "missing"})
			continue
		}
		if wl.AttachedRoutes != gl.AttachedRoutes {
			diffs = append(diffs, Difference{Object: object, Field: "attachedRoutes",
				Want: fmt.Sprint(wl.AttachedRoutes), Got: fmt.Sprint(gl.AttachedRoutes)})
		}
		diffs = append(diffs, compareConditions(object, wl.Conditions, gl.Conditions)...)
	}
	for _, name := range sortedKeys(gotByName) {
		diffs = append(diffs, Difference{Object: gateway + " listener " + name, Field: "presence", Want: "missing", Got: "present"})
	}
	return diffs
}

func compareParents(route string, want, got []Parent) []Difference {
	var diffs []Difference
	gotByKey := map[string]Parent{}
	for _, p := range got {
		gotByKey[p.Key()] = p
	}
	for _, wp := range want {
		object := route + " parent " + wp.Key()
		gp, ok := gotByKey[wp.Key()]
		delete(gotByKey, wp.Key())
		if !ok {
			diffs = append(diffs, Difference{Object: object, Field: "presence", Want: "present", Got: "missing"})
			continue
		}
		diffs = append(diffs, compareConditions(object, wp.Conditions, gp.Conditions)...)
	}
	for _, key := range sortedKeys(gotByKey) {
		diffs = append(diffs, Difference{Object: route + " parent " + key, Field: "presence", Want: "missing", Got: "present"})
	}
	return diffs
}

func compareConditions(object string, want, got []Condition) []Difference {
	var diffs []Difference
	gotByType := map[string]Condition{}
	for _, c := range got {
		gotByType[c.Type] = c
	}
	for _, wc := range want {
		gc, ok := gotByType[wc.Type]
		delete(gotByType, wc.Type)
		switch {
		case !ok:
			diffs = append(diffs, Difference{Object: object, Field: wc.Type, Want: wc.Status + " " + wc.Reason, Got: "absent"})
		case gc.Status != wc.Status || gc.Reason != wc.Reason:
			diffs = append(diffs, Difference{Object: object, Field: wc.Type, Want: wc.Status + " " + wc.Reason, Got: gc.Status + " " + gc.Reason})
		}
	}
	for _, typ := range sortedKeys(gotByType) {
		gc := gotByType[typ]
		diffs = append(diffs, Difference{Object: object, Field: typ, Want: "absent", Got: gc.Status + " " + gc.Reason})
	}
	return diffs
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Scheme returns a scheme with the kinds a case may contain: core/v1
// (Namespace, Secret, Service), Gateway API v1 and v1beta1 (for
// ReferenceGrant).
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, gwapiv1.Install, gwapiv1beta1.Install} {
		if err := add(s); err != nil {
			return nil, fmt.Errorf("build the manifest scheme: %w", err)
		}
	}
	return s, nil
}

// SplitDocuments splits a multi-document YAML file into its documents and
// drops those with only comments, such as a file's leading description,
// which egctl rejects as objects without a kind.
func SplitDocuments(data []byte) ([][]byte, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for i := 1; ; i++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read YAML document %d: %w", i, err)
		}
		if !onlyComments(doc) {
			docs = append(docs, doc)
		}
	}
}

// DecodeManifests decodes a multi-document YAML file into typed objects.
// It rejects kinds outside Scheme, so a case cannot contain an object
// that Envoy Gateway reads and the model test silently drops.
func DecodeManifests(data []byte) ([]client.Object, error) {
	scheme, err := Scheme()
	if err != nil {
		return nil, err
	}
	decoder := serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
	docs, err := SplitDocuments(data)
	if err != nil {
		return nil, err
	}
	objects := make([]client.Object, 0, len(docs))
	for i, doc := range docs {
		obj, _, err := decoder.Decode(doc, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("decode object %d: %w", i+1, err)
		}
		co, ok := obj.(client.Object)
		if !ok {
			return nil, fmt.Errorf("object %d: %T is not a Kubernetes object", i+1, obj)
		}
		objects = append(objects, co)
	}
	return objects, nil
}

// onlyComments reports whether a YAML document has no content but comments
// and blank lines, such as a file's leading description.
func onlyComments(doc []byte) bool {
	for _, line := range strings.Split(string(doc), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && line != "---" && !strings.HasPrefix(line, "#") {
			return false
		}
	}
	return true
}

// ReadCaseObjects decodes a case folder's manifests and generated Secrets.
func ReadCaseObjects(dir string) ([]client.Object, error) {
	var objects []client.Object
	for _, name := range []string{ManifestsFile, SecretsFile} {
		path := filepath.Join(dir, name)
		data, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) && name == SecretsFile {
			continue
		}
		if err != nil {
			return nil, err
		}
		objs, err := DecodeManifests(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		objects = append(objects, objs...)
	}
	return objects, nil
}

// InputHashLine returns the line that a golden file and a secrets.yaml
// carry to record the input they were generated from: label, then the
// SHA-256 of the files' contents in order. A missing file counts as empty.
func InputHashLine(label string, paths ...string) (string, error) {
	h := sha256.New()
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		fmt.Fprintf(h, "%d\n", len(data))
		h.Write(data)
	}
	return "# " + label + " sha256: " + hex.EncodeToString(h.Sum(nil)), nil
}

// GoldenInputHashLine returns the input line of a case's golden.yaml: the
// hash of its manifests.yaml and secrets.yaml.
func GoldenInputHashLine(dir string) (string, error) {
	return InputHashLine("manifests.yaml and secrets.yaml", filepath.Join(dir, ManifestsFile), filepath.Join(dir, SecretsFile))
}

// SecretsInputHashLine returns the input line of a case's secrets.yaml:
// the hash of its certificates.yaml.
func SecretsInputHashLine(dir string) (string, error) {
	return InputHashLine("certificates.yaml", filepath.Join(dir, CertificatesFile))
}

// HasLine reports whether a file contains line as a whole line.
func HasLine(path, line string) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(data), "\n") {
		if l == line {
			return true
		}
	}
	return false
}

// CaseDirs lists the case folders under root, sorted by name.
func CaseDirs(root string) ([]string, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, filepath.Join(root, e.Name()))
		}
	}
	if len(dirs) == 0 {
		return nil, fmt.Errorf("no case folders in %s", root)
	}
	return dirs, nil
}

// Description returns the leading comment block of a case's manifests,
// without the comment markers.
func Description(dir string) string {
	data, err := os.ReadFile(filepath.Join(dir, ManifestsFile))
	if err != nil {
		return ""
	}
	var lines []string
	for _, line := range strings.Split(string(data), "\n") {
		text, ok := strings.CutPrefix(line, "#")
		if !ok {
			break
		}
		lines = append(lines, strings.TrimSpace(text))
	}
	return strings.Join(lines, " ")
}

package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
)

// crdSource is a directory of CRD manifests inside a Go module.
type crdSource struct {
	module string
	// version is used when the build information of the running binary
	// does not list the module; it matches certwave's go.mod.
	version string
	dir     string
}

// crdSources are the Gateway API standard channel and cert-manager's CRDs.
var crdSources = []crdSource{
	{module: "sigs.k8s.io/gateway-api", version: "v1.6.0", dir: "config/crd/standard"},
	{module: "github.com/cert-manager/cert-manager", version: CertManagerVersion, dir: "deploy/crds"},
}

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// fieldManager is the server-side apply field manager of the stack.
const fieldManager = "certwave-local-stack"

// installCRDs applies every CRD of crdSources by server-side apply and
// waits until each is Established.
func (s *Stack) installCRDs(ctx context.Context) error {
	client, err := dynamic.NewForConfig(s.restConfig)
	if err != nil {
		return fmt.Errorf("create a dynamic client: %w", err)
	}
	var names []string
	for _, source := range crdSources {
		dir, err := moduleDir(ctx, source.module, moduleVersion(source.module, source.version))
		if err != nil {
			return err
		}
		crds, err := readCRDs(filepath.Join(dir, source.dir))
		if err != nil {
			return err
		}
		for _, crd := range crds {
			// CRDs are large, so client-side apply would hit the 256 KiB
			// limit of the last-applied annotation; server-side apply has
			// no such annotation.
			_, err := client.Resource(crdResource).Apply(ctx, crd.GetName(), crd, metav1.ApplyOptions{FieldManager: fieldManager, Force: true})
			if err != nil {
				return fmt.Errorf("apply CRD %s from %s: %w", crd.GetName(), source.module, err)
			}
			names = append(names, crd.GetName())
		}
		s.log.Info("applied CRDs", "module", source.module, "count", len(crds))
	}

	for _, name := range names {
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, s.opts.StartTimeout, true, func(ctx context.Context) (bool, error) {
			crd, err := client.Resource(crdResource).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			return crdEstablished(crd), nil
		})
		if err != nil {
			return fmt.Errorf("CRD %s not Established after %s: %w", name, s.opts.StartTimeout, err)
		}
	}
	return nil
}

func crdEstablished(crd *unstructured.Unstructured) bool {
	conditions, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, item := range conditions {
		condition, ok := item.(map[string]any)
		if ok && condition["type"] == "Established" && condition["status"] == "True" {
			return true
		}
	}
	return false
}

// readCRDs reads every CustomResourceDefinition document of the YAML files
// in dir and skips other kinds (the Gateway API directory also has a
// ValidatingAdmissionPolicy).
func readCRDs(dir string) ([]*unstructured.Unstructured, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no CRD manifests (*.yaml) in %s", dir)
	}
	slices.Sort(paths)
	var crds []*unstructured.Unstructured
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read CRD manifest: %w", err)
		}
		decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			object := &unstructured.Unstructured{}
			err := decoder.Decode(&object.Object)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("invalid manifest %s: %w", path, err)
			}
			if object.GetKind() == "CustomResourceDefinition" {
				crds = append(crds, object)
			}
		}
	}
	return crds, nil
}

// moduleVersion returns the version of module linked into the running
// binary, or fallback when the build information does not list it.
func moduleVersion(module, fallback string) string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return fallback
	}
	for _, dep := range info.Deps {
		if dep.Path != module {
			continue
		}
		if dep.Replace != nil {
			return dep.Replace.Version
		}
		return dep.Version
	}
	return fallback
}

// moduleDir returns the module cache directory of module@version. `go mod
// download` prints it, and fetches the module through the Go module proxy
// only when the cache does not have it.
func moduleDir(ctx context.Context, module, version string) (string, error) {
	command := exec.CommandContext(ctx, "go", "mod", "download", "-json", module+"@"+version)
	var stderr bytes.Buffer
	command.Stderr = &stderr
	output, err := command.Output()
	if err != nil {
		return "", fmt.Errorf("locate %s@%s with `go mod download`: %v: %s (the CRDs are read from the Go module cache, so the go command must be on PATH)",
			module, version, err, bytes.TrimSpace(stderr.Bytes()))
	}
	var result struct {
		Dir   string
		Error string
	}
	if err := json.Unmarshal(output, &result); err != nil {
		return "", fmt.Errorf("invalid output of `go mod download -json %s@%s`: %w", module, version, err)
	}
	if result.Error != "" || result.Dir == "" {
		return "", fmt.Errorf("download %s@%s: %s", module, version, result.Error)
	}
	return result.Dir, nil
}

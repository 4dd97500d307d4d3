package local

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Component versions that `make components` builds. They key the cache
// directories and follow the go.mod files under hack/components/.
const (
	EtcdVersion        = "v3.6.17"
	KubernetesVersion  = "v1.36.2"
	CertManagerVersion = "v1.21.2"
)

// Binaries are the paths of the programs the stack runs.
type Binaries struct {
	Etcd                  string
	KubeAPIServer         string
	KubeControllerManager string
	CertManagerController string
}

// DefaultCacheDir returns the component cache of `make components`:
// $CERTWAVE_CACHE/components, with CERTWAVE_CACHE defaulting to
// ~/.cache/certwave.
func DefaultCacheDir() string {
	cache := os.Getenv("CERTWAVE_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = "."
		}
		cache = filepath.Join(home, ".cache", "certwave")
	}
	return filepath.Join(cache, "components")
}

// DefaultBinaries returns the cached binaries under cacheDir, as laid out by
// hack/components.sh: <name>-<version>/<name>.
func DefaultBinaries(cacheDir string) Binaries {
	path := func(name, version string) string {
		return filepath.Join(cacheDir, name+"-"+version, name)
	}
	return Binaries{
		Etcd:                  path("etcd", EtcdVersion),
		KubeAPIServer:         path("kube-apiserver", KubernetesVersion),
		KubeControllerManager: path("kube-controller-manager", KubernetesVersion),
		CertManagerController: path("cert-manager-controller", CertManagerVersion),
	}
}

// withDefaults fills every empty path from the cache directory.
func (b Binaries) withDefaults(cacheDir string) Binaries {
	defaults := DefaultBinaries(cacheDir)
	fill := func(path *string, fallback string) {
		if *path == "" {
			*path = fallback
		}
	}
	fill(&b.Etcd, defaults.Etcd)
	fill(&b.KubeAPIServer, defaults.KubeAPIServer)
	fill(&b.KubeControllerManager, defaults.KubeControllerManager)
	fill(&b.CertManagerController, defaults.CertManagerController)
	return b
}

// Check returns a MissingBinariesError naming every binary that does not
// exist or is not executable, or nil when all are present.
func (b Binaries) Check() error {
	var missing []string
	for _, path := range []string{b.Etcd, b.KubeAPIServer, b.KubeControllerManager, b.CertManagerController} {
		info, err := os.Stat(path)
		if err != nil || info.IsDir() || info.Mode().Perm()&0o111 == 0 {
			missing = append(missing, path)
		}
	}
	if len(missing) > 0 {
		return &MissingBinariesError{Paths: missing}
	}
	return nil
}

// MissingBinariesError lists component binaries that are not built.
type MissingBinariesError struct {
	Paths []string
}

func (e *MissingBinariesError) Error() string {
	return fmt.Sprintf("component binaries not found: %s; run `make components` to build them (a first build takes an estimated 15 minutes on 2 cores), or set CERTWAVE_CACHE to the cache that has them",
		strings.Join(e.Paths, ", "))
}

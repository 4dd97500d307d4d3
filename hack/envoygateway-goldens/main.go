// Command envoygateway-goldens rewrites the Envoy Gateway goldens of
// sim/model: for every case folder under sim/model/testdata/envoygateway it
// runs `egctl x translate --from gateway-api --to gateway-api` on the case's
// manifests and Secrets and writes the listener and route conditions to
// golden.yaml. It also writes secrets.yaml, with test certificates, when
// certificates.yaml changed since secrets.yaml was generated.
//
// egctl comes from the components cache, where `hack/components.sh egctl`
// builds it. Run from the repository root:
//
//	go run ./hack/envoygateway-goldens [-case NAME] [-egctl PATH] [-renew-certificates]
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	"github.com/certwave/certwave/hack/envoygateway-goldens/golden"
)

// translateTimeout bounds one egctl run. A case translates in well under a
// second, so the limit only stops a hung process.
const translateTimeout = 2 * time.Minute

func main() {
	casesDir := flag.String("cases", "sim/model/testdata/envoygateway", "folder of the case folders")
	only := flag.String("case", "", "regenerate only this case folder name (default: every case)")
	egctlPath := flag.String("egctl", "", "path of the egctl binary (default: the components cache, as `hack/components.sh egctl` builds it)")
	renew := flag.Bool("renew-certificates", false, "rewrite every secrets.yaml with new keys and certificates, even when certificates.yaml is unchanged")
	flag.Parse()
	if flag.NArg() > 0 {
		fail(fmt.Errorf("unexpected arguments %q: this command takes flags only (see -help)", flag.Args()))
	}

	bin, err := findEgctl(*egctlPath)
	if err != nil {
		fail(err)
	}
	version, err := egctlVersion(bin)
	if err != nil {
		fail(err)
	}
	fmt.Printf("egctl %s: %s\n", version, bin)

	dirs, err := golden.CaseDirs(*casesDir)
	if err != nil {
		fail(fmt.Errorf("list cases: %w (run from the repository root or set -cases)", err))
	}
	found := false
	for _, dir := range dirs {
		if *only != "" && filepath.Base(dir) != *only {
			continue
		}
		found = true
		if err := regenerate(dir, bin, version, *renew); err != nil {
			fail(fmt.Errorf("case %s: %w", filepath.Base(dir), err))
		}
	}
	if !found {
		fail(fmt.Errorf("case %q not found in %s", *only, *casesDir))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "envoygateway-goldens:", err)
	os.Exit(1)
}

// findEgctl returns the egctl binary: the given path, or the path that
// hack/lib/components.bash assigns to egctl in the components cache.
func findEgctl(path string) (string, error) {
	if path == "" {
		out, err := exec.Command("bash", "-c", "source hack/lib/components.bash && component_bin egctl").Output()
		if err != nil {
			return "", fmt.Errorf("find egctl in the components cache with hack/lib/components.bash: %w (run from the repository root or pass -egctl)", err)
		}
		path = strings.TrimSpace(string(out))
	}
	info, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("egctl not found at %s: build it with `hack/components.sh egctl` or pass -egctl PATH", path)
	}
	if info.IsDir() || info.Mode()&0o111 == 0 {
		return "", fmt.Errorf("egctl at %s is not an executable file: rebuild it with `CERTWAVE_REBUILD=1 hack/components.sh egctl`", path)
	}
	return path, nil
}

// egctlVersion returns the client version that `egctl version
// --remote=false` prints, such as v1.9.1.
func egctlVersion(bin string) (string, error) {
	out, err := exec.Command(bin, "version", "--remote=false").Output()
	if err != nil {
		return "", fmt.Errorf("run %s version: %w: rebuild it with `CERTWAVE_REBUILD=1 hack/components.sh egctl`", bin, err)
	}
	version := strings.TrimSpace(string(out))
	if !strings.HasPrefix(version, "v") || strings.ContainsAny(version, " \n") {
		return "", fmt.Errorf("unexpected output of %s version: %q: rebuild it with `CERTWAVE_REBUILD=1 hack/components.sh egctl`, which sets the version", bin, out)
	}
	return version, nil
}

// regenerate brings a case's secrets.yaml up to date and rewrites its
// golden.yaml from egctl's translation.
func regenerate(dir, bin, version string, renew bool) error {
	secretsChanged, err := writeSecrets(dir, renew)
	if err != nil {
		return err
	}

	input, err := caseInput(dir)
	if err != nil {
		return err
	}
	out, err := translate(bin, input)
	if err != nil {
		return err
	}
	var result struct {
		Gateways   []gwapiv1.Gateway   `json:"gateways"`
		HTTPRoutes []gwapiv1.HTTPRoute `json:"httpRoutes"`
	}
	if err := yaml.Unmarshal(out, &result); err != nil {
		return fmt.Errorf("parse egctl output: %w", err)
	}
	if len(result.Gateways) == 0 {
		return fmt.Errorf("egctl returned no Gateway: check that the case has one GatewayClass with controllerName %s and Gateways of that class", golden.EnvoyGatewayController)
	}

	status := golden.Reduce(result.Gateways, result.HTTPRoutes)
	inputLine, err := golden.GoldenInputHashLine(dir)
	if err != nil {
		return err
	}
	header := fmt.Sprintf("Listener and route conditions that Envoy Gateway %s computes for this case,\n"+
		"from `egctl x translate --from gateway-api --to gateway-api`.\n"+
		"Generated by `make envoygateway-goldens` (hack/envoygateway-goldens). Do not edit.\n"+
		"%s", version, strings.TrimPrefix(inputLine, "# "))
	data, err := golden.Marshal(header, status)
	if err != nil {
		return err
	}

	path := filepath.Join(dir, golden.GoldenFile)
	old, _ := os.ReadFile(path)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return err
	}
	state := "unchanged"
	if !bytes.Equal(old, data) {
		state = "updated"
	}
	if secretsChanged {
		state += ", new secrets.yaml"
	}
	fmt.Printf("%-45s %d Gateways, %d HTTPRoutes: %s\n", filepath.Base(dir), len(status.Gateways), len(status.Routes), state)
	return nil
}

// caseInput concatenates the objects of a case's manifests and Secrets
// into the one file that egctl reads.
func caseInput(dir string) ([]byte, error) {
	var buf bytes.Buffer
	for _, name := range []string{golden.ManifestsFile, golden.SecretsFile} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) && name == golden.SecretsFile {
			continue
		}
		if err != nil {
			return nil, err
		}
		docs, err := golden.SplitDocuments(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		for _, doc := range docs {
			buf.WriteString("---\n")
			buf.Write(bytes.TrimRight(doc, "\n"))
			buf.WriteString("\n")
		}
	}
	return buf.Bytes(), nil
}

// translate runs egctl on the input and returns its YAML output.
func translate(bin string, input []byte) ([]byte, error) {
	f, err := os.CreateTemp("", "envoygateway-case-*.yaml")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(input); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}

	ctx, cancel := context.WithTimeout(context.Background(), translateTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "x", "translate", "--from", "gateway-api", "--to", "gateway-api", "--output", "yaml", "--file", f.Name())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("egctl x translate failed: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

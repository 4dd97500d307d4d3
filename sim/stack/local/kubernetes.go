package local

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// adminUser is the user of the static admin token; it is in
// system:masters, so RBAC allows it everything.
const adminUser = "certwave-admin"

// startEtcd starts etcd with a data directory in the stack's directory and
// returns its client URL.
func (s *Stack) startEtcd(ctx context.Context) (string, error) {
	clientAddress, err := freeAddress()
	if err != nil {
		return "", err
	}
	peerAddress, err := freeAddress()
	if err != nil {
		return "", err
	}
	clientURL := "http://" + clientAddress
	peerURL := "http://" + peerAddress
	_, err = s.StartProcess(ctx, ProcessSpec{
		Name: "etcd",
		Path: s.opts.Binaries.Etcd,
		Args: []string{
			"--name", "certwave",
			"--data-dir", filepath.Join(s.dir, "etcd"),
			"--listen-client-urls", clientURL,
			"--advertise-client-urls", clientURL,
			"--listen-peer-urls", peerURL,
			"--initial-advertise-peer-urls", peerURL,
			"--initial-cluster", "certwave=" + peerURL,
			// The data is thrown away with the stack, so skipping fsync
			// costs nothing and makes writes faster on slow disks.
			"--unsafe-no-fsync",
		},
		Ready: func(ctx context.Context) error { return httpOK(ctx, http.DefaultClient, clientURL+"/health", "") },
	})
	return clientURL, err
}

// startAPIServer starts kube-apiserver with RBAC, a static admin token and
// service-account keys made here, waits for /readyz and writes the admin
// kubeconfig.
func (s *Stack) startAPIServer(ctx context.Context, etcdURL string) error {
	port, err := FreePort()
	if err != nil {
		return err
	}
	keyPath, publicKeyPath, err := writeServiceAccountKeys(s.dir)
	if err != nil {
		return err
	}
	token, err := randomToken()
	if err != nil {
		return err
	}
	tokensPath := filepath.Join(s.dir, "tokens.csv")
	// Format of --token-auth-file: token,user,uid,"group1,group2".
	if err := os.WriteFile(tokensPath, []byte(token+","+adminUser+","+adminUser+",system:masters\n"), 0o600); err != nil {
		return fmt.Errorf("write the token file: %w", err)
	}
	certDir := filepath.Join(s.dir, "apiserver-certs")
	url := fmt.Sprintf("https://127.0.0.1:%d", port)

	// The probe skips certificate checks because kube-apiserver creates
	// its self-signed serving certificate only when it starts.
	probe := &http.Client{Transport: &http.Transport{TLSClientConfig: insecureLoopbackTLS()}}
	_, err = s.StartProcess(ctx, ProcessSpec{
		Name: "kube-apiserver",
		Path: s.opts.Binaries.KubeAPIServer,
		Args: []string{
			"--etcd-servers", etcdURL,
			"--bind-address", "127.0.0.1",
			"--advertise-address", "127.0.0.1",
			"--secure-port", fmt.Sprint(port),
			"--cert-dir", certDir,
			"--service-account-issuer", "https://kubernetes.default.svc",
			"--service-account-signing-key-file", keyPath,
			"--service-account-key-file", publicKeyPath,
			"--service-cluster-ip-range", "10.0.0.0/24",
			"--authorization-mode", "RBAC",
			"--token-auth-file", tokensPath,
		},
		Ready: func(ctx context.Context) error { return httpOK(ctx, probe, url+"/readyz", token) },
	})
	if err != nil {
		return err
	}

	// The serving certificate file holds the certificate and the
	// self-signed CA that signed it, so it serves as the trust bundle.
	caData, err := os.ReadFile(filepath.Join(certDir, "apiserver.crt"))
	if err != nil {
		return fmt.Errorf("read kube-apiserver's serving certificate: %w", err)
	}
	s.restConfig = &rest.Config{
		Host:            url,
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAData: caData},
		QPS:             50,
		Burst:           100,
	}
	s.kubeconfig = filepath.Join(s.dir, "kubeconfig")
	return writeKubeconfig(s.kubeconfig, url, token, caData)
}

// startControllerManager starts kube-controller-manager with only the
// garbage collector. Without it, the Orders of a failed issuance are never
// deleted, and cert-manager does not retry because it finds an Order that
// its new CertificateRequest does not own.
func (s *Stack) startControllerManager(ctx context.Context) error {
	process, err := s.StartProcess(ctx, ProcessSpec{
		Name: "kube-controller-manager",
		Path: s.opts.Binaries.KubeControllerManager,
		Args: []string{
			"--kubeconfig", s.kubeconfig,
			"--controllers", "garbagecollector",
			"--leader-elect=false",
			"--bind-address", "127.0.0.1",
			"--secure-port", "0",
		},
	})
	if err != nil {
		return err
	}
	// It has no endpoint to probe with --secure-port 0, so check that it
	// survives its start-up checks.
	select {
	case <-process.done:
		return fmt.Errorf("kube-controller-manager exited at start (%v); last lines of %s:\n%s", process.waitErr, process.LogPath, tail(process.LogPath, 20))
	case <-time.After(time.Second):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// writeServiceAccountKeys writes an RSA key pair that kube-apiserver uses
// to sign and check service-account tokens.
func writeServiceAccountKeys(dir string) (keyPath, publicKeyPath string, err error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", "", fmt.Errorf("generate the service-account key: %w", err)
	}
	publicDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return "", "", fmt.Errorf("encode the service-account public key: %w", err)
	}
	keyPath = filepath.Join(dir, "sa.key")
	publicKeyPath = filepath.Join(dir, "sa.pub")
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := os.WriteFile(keyPath, keyPEM, 0o600); err != nil {
		return "", "", fmt.Errorf("write the service-account key: %w", err)
	}
	publicPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: publicDER})
	if err := os.WriteFile(publicKeyPath, publicPEM, 0o600); err != nil {
		return "", "", fmt.Errorf("write the service-account public key: %w", err)
	}
	return keyPath, publicKeyPath, nil
}

func randomToken() (string, error) {
	buf := make([]byte, 16)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("generate the admin token: %w", err)
	}
	return hex.EncodeToString(buf), nil
}

func writeKubeconfig(path, url, token string, caData []byte) error {
	config := clientcmdapi.Config{
		Clusters:       map[string]*clientcmdapi.Cluster{"certwave": {Server: url, CertificateAuthorityData: caData}},
		AuthInfos:      map[string]*clientcmdapi.AuthInfo{adminUser: {Token: token}},
		Contexts:       map[string]*clientcmdapi.Context{"certwave": {Cluster: "certwave", AuthInfo: adminUser}},
		CurrentContext: "certwave",
	}
	if err := clientcmd.WriteToFile(config, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}

// httpOK returns nil when a GET of url returns HTTP 200. A non-empty token is
// sent as a bearer token.
func httpOK(ctx context.Context, client *http.Client, url, token string) error {
	request, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		request.Header.Set("Authorization", "Bearer "+token)
	}
	response, err := client.Do(request)
	if err != nil {
		return err
	}
	response.Body.Close()
	if response.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s returned HTTP %d", url, response.StatusCode)
	}
	return nil
}

// insecureLoopbackTLS skips certificate checks. It is only used to probe
// kube-apiserver on 127.0.0.1 before its serving certificate exists.
func insecureLoopbackTLS() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true} //nolint:gosec // loopback readiness probe only
}

package tlsprobe

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestReadRootsFileCases(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test root"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "roots.pem")
	if err := os.WriteFile(good, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.pem")
	if err := os.WriteFile(empty, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	if _, err := ReadRoots("--roots-file", good); err != nil {
		t.Errorf("valid bundle: %v", err)
	}
	if _, err := ReadRoots("--roots-file", empty); err == nil || !strings.Contains(err.Error(), "invalid --roots-file") {
		t.Errorf("bundle without PEM: err = %v, want it to name --roots-file as invalid", err)
	}
	if _, err := ReadRoots("--ca-file", filepath.Join(dir, "missing.pem")); err == nil || !strings.Contains(err.Error(), "reading --ca-file") {
		t.Errorf("missing file: err = %v, want it to name --ca-file", err)
	}
}

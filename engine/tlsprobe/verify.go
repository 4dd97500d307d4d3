package tlsprobe

import (
	"bufio"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// timeLayout formats validity bounds in details.
const timeLayout = "2006-01-02T15:04:05Z"

// verifyLeaf checks the served chain the way a verifying client would. The
// leaf must cover name, be valid at now, and chain to roots (the system
// roots when roots is nil) through the intermediates the server sent. It
// returns every problem found joined by "; ", or "" when the chain is good.
func verifyLeaf(chain []*x509.Certificate, name string, roots *x509.CertPool, now time.Time) string {
	leaf := chain[0]
	var problems []string

	if err := leaf.VerifyHostname(name); err != nil {
		problems = append(problems, fmt.Sprintf("certificate (SANs %s) does not cover %s", strings.Join(leaf.DNSNames, ","), name))
	}
	timeValid := true
	switch {
	case now.Before(leaf.NotBefore):
		timeValid = false
		problems = append(problems, fmt.Sprintf("certificate is not valid before %s (now %s)", leaf.NotBefore.UTC().Format(timeLayout), now.UTC().Format(timeLayout)))
	case now.After(leaf.NotAfter):
		timeValid = false
		problems = append(problems, fmt.Sprintf("certificate expired at %s (now %s)", leaf.NotAfter.UTC().Format(timeLayout), now.UTC().Format(timeLayout)))
	}

	intermediates := x509.NewCertPool()
	for _, c := range chain[1:] {
		intermediates.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: intermediates,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil && !(!timeValid && isLeafTimeError(err, leaf)) {
		problems = append(problems, "certificate chain: "+err.Error())
	}
	return strings.Join(problems, "; ")
}

// isLeafTimeError reports whether err is the leaf's own validity error,
// which verifyLeaf has already described.
//
// NOTE: x509 checks the leaf's validity before building chains, so for an
// expired leaf an untrusted root goes unreported.
func isLeafTimeError(err error, leaf *x509.Certificate) bool {
	var invalid x509.CertificateInvalidError
	return errors.As(err, &invalid) && invalid.Cert == leaf && invalid.Reason == x509.Expired
}

// getRoot sends GET / with the Host header host over conn, HTTP/1.1 with
// Connection: close, and returns the response status code.
func getRoot(conn net.Conn, host string) (int, error) {
	req, err := http.NewRequest(http.MethodGet, "https://"+host+"/", nil)
	if err != nil {
		return 0, err
	}
	req.Host = host
	req.Close = true
	req.Header.Set("User-Agent", "certwave-probe")
	if err := req.Write(conn); err != nil {
		return 0, fmt.Errorf("sending request: %w", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return 0, fmt.Errorf("reading response: %w", err)
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

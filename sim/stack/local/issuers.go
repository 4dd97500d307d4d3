package local

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	cmacme "github.com/cert-manager/cert-manager/pkg/apis/acme/v1"
	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"github.com/certwave/certwave/sim/dns"
)

// tsigSecretKey is the data key of the TSIG secret in its Secret.
const tsigSecretKey = "tsig-secret"

// acmeIssuerSpec contains the values of the ACME ClusterIssuer.
type acmeIssuerSpec struct {
	name          string
	directoryURL  string
	caBundle      []byte
	profile       string
	nameserver    string
	tsig          dns.TSIGKey
	tsigSecret    string
	accountSecret string
}

// acmeClusterIssuer returns a ClusterIssuer with one DNS01 RFC2136 solver
// for every name. Its caBundle trusts only the front's serving
// certificate, so a request that bypassed the front to reach Pebble would
// fail TLS instead of missing from the front's ledger.
func acmeClusterIssuer(spec acmeIssuerSpec) *cmapi.ClusterIssuer {
	return &cmapi.ClusterIssuer{
		ObjectMeta: metav1.ObjectMeta{Name: spec.name},
		Spec: cmapi.IssuerSpec{IssuerConfig: cmapi.IssuerConfig{ACME: &cmacme.ACMEIssuer{
			Server:   spec.directoryURL,
			CABundle: spec.caBundle,
			Profile:  spec.profile,
			PrivateKey: cmmeta.SecretKeySelector{
				LocalObjectReference: cmmeta.LocalObjectReference{Name: spec.accountSecret},
			},
			Solvers: []cmacme.ACMEChallengeSolver{{
				DNS01: &cmacme.ACMEChallengeSolverDNS01{
					RFC2136: &cmacme.ACMEIssuerDNS01ProviderRFC2136{
						Nameserver:    spec.nameserver,
						TSIGKeyName:   spec.tsig.Name,
						TSIGAlgorithm: spec.tsig.CertManagerAlgorithm(),
						TSIGSecret: cmmeta.SecretKeySelector{
							LocalObjectReference: cmmeta.LocalObjectReference{Name: spec.tsigSecret},
							Key:                  tsigSecretKey,
						},
					},
				},
			}},
		}}},
	}
}

// createACMEIssuer writes the TSIG Secret to the cluster resource
// namespace and creates the ACME ClusterIssuer. Both replace objects of the
// same name, which a stack directory reused with its etcd data still has.
func (s *Stack) createACMEIssuer(ctx context.Context, servers *ACMEServers, profile string) error {
	c, err := s.client()
	if err != nil {
		return err
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.opts.ClusterResourceNamespace, Name: servers.TSIGSecretName},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{tsigSecretKey: []byte(servers.DNS.TSIG().Secret)},
	}
	if err := createOrReplace(ctx, c, secret); err != nil {
		return err
	}
	issuer := acmeClusterIssuer(acmeIssuerSpec{
		name:          servers.IssuerName,
		directoryURL:  servers.Front.DirectoryURL(),
		caBundle:      servers.Front.CertificatePEM(),
		profile:       profile,
		nameserver:    servers.DNS.Addr(),
		tsig:          servers.DNS.TSIG(),
		tsigSecret:    servers.TSIGSecretName,
		accountSecret: servers.IssuerName + "-account-key",
	})
	return createOrReplace(ctx, c, issuer)
}

// waitIssuerReady waits until the controller has registered the
// ClusterIssuer's ACME account through the front and set Ready=True.
func (s *Stack) waitIssuerReady(ctx context.Context, name string) error {
	c, err := s.client()
	if err != nil {
		return err
	}
	start := time.Now()
	var last string
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, s.opts.StartTimeout, true, func(ctx context.Context) (bool, error) {
		var issuer cmapi.ClusterIssuer
		if err := c.Get(ctx, client.ObjectKey{Name: name}, &issuer); err != nil {
			last = err.Error()
			return false, nil
		}
		for _, condition := range issuer.Status.Conditions {
			if condition.Type == cmapi.IssuerConditionReady {
				last = fmt.Sprintf("Ready=%s, reason %s: %s", condition.Status, condition.Reason, condition.Message)
				return condition.Status == cmmeta.ConditionTrue, nil
			}
		}
		last = "no Ready condition yet"
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("ClusterIssuer %s not Ready after %s (%s); see %s",
			name, s.opts.StartTimeout, last, filepath.Join(s.dir, "cert-manager-controller.log"))
	}
	s.log.Info("ClusterIssuer ready", "issuer", name, "after", time.Since(start).Round(time.Millisecond))
	return nil
}

// client returns a controller-runtime client that knows the core and
// cert-manager types.
func (s *Stack) client() (client.Client, error) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("register the core types: %w", err)
	}
	if err := cmapi.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("register the cert-manager types: %w", err)
	}
	c, err := client.New(s.restConfig, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("create a client for %s: %w", s.restConfig.Host, err)
	}
	return c, nil
}

// createOrReplace creates object, or replaces the object of the same name
// when one exists. Errors name the object only, never its data.
func createOrReplace(ctx context.Context, c client.Client, object client.Object) error {
	kind := fmt.Sprintf("%T", object)
	if gvk, err := apiutil.GVKForObject(object, c.Scheme()); err == nil {
		kind = gvk.Kind
	}
	key := client.ObjectKeyFromObject(object)
	err := c.Create(ctx, object)
	if err == nil {
		return nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create %s %s: %w", kind, key, err)
	}
	existing := object.DeepCopyObject().(client.Object)
	if err := c.Get(ctx, key, existing); err != nil {
		return fmt.Errorf("get the existing %s %s: %w", kind, key, err)
	}
	object.SetResourceVersion(existing.GetResourceVersion())
	if err := c.Update(ctx, object); err != nil {
		return fmt.Errorf("replace %s %s: %w", kind, key, err)
	}
	return nil
}

package harness

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapi "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/certwave/certwave/engine"
	"github.com/certwave/certwave/scenarios"
)

// actionClock wraps a world's clock and performs the scenario's operator
// actions when virtual time reaches them, so they interleave with the
// engine's waits exactly as scheduled.
type actionClock struct {
	inner   engine.Clock
	world   World
	pending []timedAction
	errs    []string
}

type timedAction struct {
	at time.Time
	a  scenarios.Action
}

// newActionClock returns the world's clock with the scenario's actions
// due. Action times are plan time; on a world whose plan waits are divided
// by scale (worldTimeScale), so are they.
func newActionClock(w World, start time.Time, scale int, actions []scenarios.Action) *actionClock {
	c := &actionClock{inner: w.Clock(), world: w}
	for _, a := range actions {
		c.pending = append(c.pending, timedAction{at: start.Add(a.At.D() / time.Duration(max(scale, 1))), a: a})
	}
	sort.SliceStable(c.pending, func(i, j int) bool { return c.pending[i].at.Before(c.pending[j].at) })
	return c
}

func (c *actionClock) Now() time.Time { return c.inner.Now() }

// Sleep sleeps d, stopping at each due action to perform it.
func (c *actionClock) Sleep(ctx context.Context, d time.Duration) error {
	end := c.inner.Now().Add(d)
	for len(c.pending) > 0 && !c.pending[0].at.After(end) {
		next := c.pending[0]
		c.pending = c.pending[1:]
		if wait := next.at.Sub(c.inner.Now()); wait > 0 {
			if err := c.inner.Sleep(ctx, wait); err != nil {
				return err
			}
		}
		if err := c.perform(ctx, next.a); err != nil {
			c.errs = append(c.errs, err.Error())
		}
	}
	if rest := end.Sub(c.inner.Now()); rest > 0 {
		return c.inner.Sleep(ctx, rest)
	}
	return nil
}

// perform does one operator action through the world's client, with a
// field manager of its own so that it never takes certwave's fields.
func (c *actionClock) perform(ctx context.Context, a scenarios.Action) error {
	cl := c.world.Client()
	switch a.Kind {
	case "annotate-gateway":
		ns, name, _ := strings.Cut(a.Gateway, "/")
		var gw gwapi.Gateway
		if err := cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &gw); err != nil {
			return fmt.Errorf("action annotate-gateway %s: %w", a.Gateway, err)
		}
		patch := client.MergeFrom(gw.DeepCopy())
		if gw.Annotations == nil {
			gw.Annotations = map[string]string{}
		}
		for k, v := range a.Annotations {
			gw.Annotations[k] = v
		}
		if err := cl.Patch(ctx, &gw, patch, client.FieldOwner("operator")); err != nil {
			return fmt.Errorf("action annotate-gateway %s: %w", a.Gateway, err)
		}
	case "create-certificate":
		ns, name, _ := strings.Cut(a.Certificate, "/")
		if a.Count <= 1 {
			return createCertificate(ctx, cl, ns, name, a.DNSNames, a.Issuer)
		}
		for i := 1; i <= a.Count; i++ {
			var names []string
			for _, n := range a.DNSNames {
				names = append(names, strings.ReplaceAll(n, "{i}", strconv.Itoa(i)))
			}
			if err := createCertificate(ctx, cl, ns, fmt.Sprintf("%s-%d", name, i), names, a.Issuer); err != nil {
				return err
			}
		}
	case "delete-secret":
		ns, name, _ := strings.Cut(a.Secret, "/")
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
		if err := cl.Delete(ctx, s); err != nil {
			return fmt.Errorf("action delete-secret %s: %w", a.Secret, err)
		}
	}
	return nil
}

// createCertificate creates a Certificate for names from the ClusterIssuer
// issuer, writing Secret <name>-tls.
func createCertificate(ctx context.Context, cl client.Client, namespace, name string, names []string, issuer string) error {
	crt := &cmapi.Certificate{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: cmapi.CertificateSpec{
			SecretName: name + "-tls",
			DNSNames:   names,
			IssuerRef:  cmmeta.IssuerReference{Kind: "ClusterIssuer", Name: issuer},
		},
	}
	if err := cl.Create(ctx, crt, client.FieldOwner("operator")); err != nil {
		return fmt.Errorf("action create-certificate %s/%s: %w", namespace, name, err)
	}
	return nil
}

// clockedWorld is a World whose clock performs the scenario's actions.
type clockedWorld struct {
	World
	clock *actionClock
}

func (w *clockedWorld) Clock() engine.Clock { return w.clock }

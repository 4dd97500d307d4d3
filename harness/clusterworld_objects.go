package harness

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/certwave/certwave/engine"
	"github.com/certwave/certwave/topology"
)

// clusterFieldOwner is the field manager of the objects the cluster world
// creates.
const clusterFieldOwner = "certwave-cluster-world"

// operatorFieldOwner is the field manager of the scenario's operator
// actions (actionClock.perform).
const operatorFieldOwner = "operator"

// sweptKinds are the kinds the engine and the scenario's actions create.
// On close the world deletes the objects of these kinds that appeared in
// the scenario's namespaces, or at cluster scope, while it ran.
var sweptKinds = []func() client.ObjectList{
	func() client.ObjectList { return &cmapi.ClusterIssuerList{} },
	func() client.ObjectList { return &cmapi.IssuerList{} },
	func() client.ObjectList { return &cmapi.CertificateList{} },
	func() client.ObjectList { return &corev1.SecretList{} },
	func() client.ObjectList { return &gwapiv1.GatewayList{} },
	func() client.ObjectList { return &gwapiv1.HTTPRouteList{} },
}

// clusterRun is the record of one run of the cluster world: the objects
// it created and those the cluster had before it.
type clusterRun struct {
	c   client.Client
	log *slog.Logger
	// id is the value of ClusterWorldLabel on the objects of the run.
	id string
	// namespaces are the scenario's namespaces, and ownNamespaces those the
	// run created.
	namespaces    []string
	ownNamespaces map[string]bool
	// created lists the objects the run created, in creation order.
	created []client.Object
	// before holds the objects of sweptKinds that existed before the run,
	// by kind/namespace/name, with their UIDs.
	before map[string]types.UID
}

func newClusterRun(c client.Client, scenario string, log *slog.Logger) *clusterRun {
	return &clusterRun{c: c, log: log, id: runID(scenario, time.Now()), ownNamespaces: map[string]bool{}}
}

var invalidLabelChars = regexp.MustCompile(`[^a-z0-9-]+`)

// runID returns a label value naming one run: the scenario's name and the
// start time, at most 63 characters.
func runID(scenario string, at time.Time) string {
	name := strings.Trim(invalidLabelChars.ReplaceAllString(strings.ToLower(scenario), "-"), "-")
	suffix := at.UTC().Format("20060102t150405")
	if max := 63 - len(suffix) - 1; len(name) > max {
		name = strings.Trim(name[:max], "-")
	}
	if name == "" {
		return suffix
	}
	return name + "-" + suffix
}

// create checks that the cluster has none of the scenario's objects, then
// creates them, labelled: the missing Namespaces and GatewayClasses first,
// then, once the gateway controller accepted every GatewayClass, the
// issuers, Secrets, Certificates, Gateways and HTTPRoutes. The ACME
// issuers are left out, because checkACMEIssuers found them in the
// cluster.
func (r *clusterRun) create(ctx context.Context, inv *topology.Inventory, objects []client.Object, timeout time.Duration) error {
	acme := map[string]bool{}
	for _, is := range inv.Issuers {
		if is.Type == topology.IssuerACME {
			acme[r.key(issuerObjectFor(is))] = true
		}
	}
	var namespaces, classes, rest []client.Object
	for _, o := range objects {
		switch o.(type) {
		case *corev1.Namespace:
			namespaces = append(namespaces, o)
			r.namespaces = append(r.namespaces, o.GetName())
		case *gwapiv1.GatewayClass:
			classes = append(classes, o)
		default:
			if !acme[r.key(o)] {
				rest = append(rest, o)
			}
		}
	}
	if err := r.checkAbsent(ctx, rest); err != nil {
		return err
	}
	if err := r.recordBefore(ctx); err != nil {
		return err
	}

	for _, o := range append(namespaces, classes...) {
		if err := r.createIfMissing(ctx, o); err != nil {
			return err
		}
	}
	for _, o := range classes {
		if err := r.waitAccepted(ctx, o.GetName(), timeout); err != nil {
			return err
		}
	}
	for _, o := range rest {
		if err := r.createLabelled(ctx, o); err != nil {
			return err
		}
	}
	return nil
}

// issuerObjectFor returns an empty object naming an inventory issuer.
func issuerObjectFor(is topology.Issuer) client.Object {
	if is.Kind == cmapi.ClusterIssuerKind {
		return &cmapi.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: is.Name}}
	}
	return &cmapi.Issuer{ObjectMeta: metav1.ObjectMeta{Namespace: is.Namespace, Name: is.Name}}
}

// key returns Kind/namespace/name of o, or Kind/name when it is
// cluster-scoped.
func (r *clusterRun) key(o client.Object) string {
	kind := fmt.Sprintf("%T", o)
	if gvk, err := apiutil.GVKForObject(o, r.c.Scheme()); err == nil {
		kind = gvk.Kind
	}
	if o.GetNamespace() == "" {
		return kind + "/" + o.GetName()
	}
	return kind + "/" + o.GetNamespace() + "/" + o.GetName()
}

// checkAbsent returns an error naming every object of objects that exists
// in the cluster already. The world creates the scenario's topology
// itself and never takes over objects it did not create.
func (r *clusterRun) checkAbsent(ctx context.Context, objects []client.Object) error {
	var found []string
	leftover := false
	for _, o := range objects {
		existing := o.DeepCopyObject().(client.Object)
		err := r.c.Get(ctx, client.ObjectKeyFromObject(o), existing)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("cluster world: reading %s: %w", r.key(o), err)
		}
		found = append(found, r.key(o))
		_, labelled := existing.GetLabels()[ClusterWorldLabel]
		leftover = leftover || labelled
	}
	if len(found) == 0 {
		return nil
	}
	fix := "delete them, or run the scenario on a cluster without them"
	if leftover {
		fix = fmt.Sprintf("some were left by an earlier run kept with --keep, so delete what it created with "+
			"kubectl delete namespaces,gatewayclasses,clusterissuers,issuers,certificates,secrets,gateways,httproutes -A -l %s", ClusterWorldLabel)
	}
	return fmt.Errorf("cluster world: the cluster already has objects the scenario creates: %s. To fix: %s", strings.Join(found, ", "), fix)
}

// recordBefore lists the objects of sweptKinds in the scenario's
// namespaces and at cluster scope.
func (r *clusterRun) recordBefore(ctx context.Context) error {
	r.before = map[string]types.UID{}
	return r.eachSwept(ctx, func(o client.Object) error {
		r.before[r.key(o)] = o.GetUID()
		return nil
	})
}

// eachSwept calls fn for every object of sweptKinds in the scenario's
// namespaces and at cluster scope.
func (r *clusterRun) eachSwept(ctx context.Context, fn func(client.Object) error) error {
	inScope := map[string]bool{"": true}
	for _, ns := range r.namespaces {
		inScope[ns] = true
	}
	for _, newList := range sweptKinds {
		list := newList()
		if err := r.c.List(ctx, list); err != nil {
			return fmt.Errorf("cluster world: listing %T: %w", list, err)
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			return err
		}
		for _, item := range items {
			o := item.(client.Object)
			if !inScope[o.GetNamespace()] {
				continue
			}
			if err := fn(o); err != nil {
				return err
			}
		}
	}
	return nil
}

// createIfMissing creates a Namespace or GatewayClass unless the cluster
// has one of that name, which the run then uses as it is.
func (r *clusterRun) createIfMissing(ctx context.Context, o client.Object) error {
	existing := o.DeepCopyObject().(client.Object)
	err := r.c.Get(ctx, client.ObjectKeyFromObject(o), existing)
	if err == nil && existing.GetDeletionTimestamp() != nil {
		return fmt.Errorf("cluster world: %s is being deleted, as after an earlier run. Wait until it is gone", r.key(o))
	}
	if err == nil {
		r.log.Info("using the cluster's object", "object", r.key(o))
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("cluster world: reading %s: %w", r.key(o), err)
	}
	if err := r.createLabelled(ctx, o); err != nil {
		return err
	}
	if _, ok := o.(*corev1.Namespace); ok {
		r.ownNamespaces[o.GetName()] = true
	}
	return nil
}

// createLabelled creates o with ClusterWorldLabel and records it.
func (r *clusterRun) createLabelled(ctx context.Context, o client.Object) error {
	labels := o.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[ClusterWorldLabel] = r.id
	o.SetLabels(labels)
	if err := r.c.Create(ctx, o, client.FieldOwner(clusterFieldOwner)); err != nil {
		return fmt.Errorf("cluster world: creating %s: %w", r.key(o), err)
	}
	r.created = append(r.created, o)
	return nil
}

// waitAccepted waits until a gateway controller sets the GatewayClass
// Accepted=True.
func (r *clusterRun) waitAccepted(ctx context.Context, name string, timeout time.Duration) error {
	var class gwapiv1.GatewayClass
	// last is the condition read last. A failed read leaves it as it was,
	// because the read cut short by the timeout fails too.
	last := "no Accepted condition"
	err := wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		if err := r.c.Get(ctx, client.ObjectKey{Name: name}, &class); err != nil {
			r.log.Warn("reading the GatewayClass", "name", name, "error", err)
			return false, nil
		}
		for _, c := range class.Status.Conditions {
			if c.Type == string(gwapiv1.GatewayClassConditionStatusAccepted) {
				last = fmt.Sprintf("Accepted=%s, reason %s: %s", c.Status, c.Reason, c.Message)
				return c.Status == metav1.ConditionTrue, nil
			}
		}
		return false, nil
	})
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		return unsupportedInCluster("gateway controller", fmt.Sprintf("GatewayClass %s (controllerName %s) was not Accepted within %s (%s): "+
			"no gateway controller for it writes status in this cluster", name, class.Spec.ControllerName, timeout, last))
	}
	return nil
}

// cleanup deletes what the run created, unless keep is set: first the
// objects the engine and the scenario's actions created in namespaces the
// run did not create, then the run's own objects, Namespaces last.
func (r *clusterRun) cleanup(ctx context.Context, keep bool) error {
	if keep {
		r.log.Info("keeping the run's objects", "objects", len(r.created), "label", ClusterWorldLabel+"="+r.id,
			"note", "objects the engine created outside the run's namespaces carry no label")
		return nil
	}
	var errs []error
	swept, err := r.sweep(ctx)
	if err != nil {
		errs = append(errs, err)
	}
	for i := len(r.created) - 1; i >= 0; i-- {
		o := r.created[i]
		if err := r.c.Delete(ctx, o, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting %s: %w", r.key(o), err))
		}
	}
	r.log.Info("deleted the run's objects", "created", len(r.created), "madeDuringRun", swept, "errors", len(errs))
	if len(errs) > 0 {
		return fmt.Errorf("cluster world: cleaning up run %s: %w", r.id, errors.Join(errs...))
	}
	return nil
}

// sweep deletes the objects of sweptKinds that appeared during the run in
// namespaces it did not create, or at cluster scope, when the engine or
// the scenario's actions wrote them, with the Secrets cert-manager issued
// for their Certificates. It returns how many it deleted.
func (r *clusterRun) sweep(ctx context.Context) (int, error) {
	var doomed []client.Object
	// certificates are namespace/name of the run's Certificates, whose
	// Secrets cert-manager wrote.
	certificates := map[string]bool{}
	for _, o := range r.created {
		if _, ok := o.(*cmapi.Certificate); ok {
			certificates[o.GetNamespace()+"/"+o.GetName()] = true
		}
	}
	var secrets []client.Object
	err := r.eachSwept(ctx, func(o client.Object) error {
		if uid, existed := r.before[r.key(o)]; r.ownNamespaces[o.GetNamespace()] || existed && uid == o.GetUID() {
			return nil
		}
		if _, ok := o.(*corev1.Secret); ok {
			secrets = append(secrets, o)
			return nil
		}
		if !managedBy(o, engine.FieldManager, operatorFieldOwner) {
			return nil
		}
		if _, ok := o.(*cmapi.Certificate); ok {
			certificates[o.GetNamespace()+"/"+o.GetName()] = true
		}
		doomed = append(doomed, o)
		return nil
	})
	if err != nil {
		return 0, err
	}

	for _, s := range secrets {
		if certificates[s.GetNamespace()+"/"+s.GetAnnotations()[cmapi.CertificateNameKey]] || managedBy(s, engine.FieldManager, operatorFieldOwner) {
			doomed = append(doomed, s)
		}
	}
	sort.SliceStable(doomed, func(i, j int) bool { return r.key(doomed[i]) < r.key(doomed[j]) })

	var errs []error
	for _, o := range doomed {
		if err := r.c.Delete(ctx, o); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting %s: %w", r.key(o), err))
		}
	}
	return len(doomed), errors.Join(errs...)
}

// managedBy reports whether one of managers wrote fields of o.
func managedBy(o client.Object, managers ...string) bool {
	for _, f := range o.GetManagedFields() {
		for _, m := range managers {
			if f.Manager == m {
				return true
			}
		}
	}
	return false
}

// scopedClient returns a client whose lists of namespaced kinds hold only
// the objects of namespaces. Gets, writes and cluster-scoped lists pass
// through. The engine and the judge list cluster-wide, and on a shared
// cluster other tenants' Certificates and Gateways would otherwise count
// as the scenario's.
func scopedClient(c client.WithWatch, namespaces []string) client.Client {
	allowed := map[string]bool{}
	for _, ns := range namespaces {
		allowed[ns] = true
	}
	return interceptor.NewClient(c, interceptor.Funcs{
		List: func(ctx context.Context, cl client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			if err := cl.List(ctx, list, opts...); err != nil {
				return err
			}
			items, err := meta.ExtractList(list)
			if err != nil {
				return err
			}
			inScope := items[:0]
			for _, item := range items {
				if o, ok := item.(client.Object); ok && o.GetNamespace() != "" && !allowed[o.GetNamespace()] {
					continue
				}
				inScope = append(inScope, item)
			}
			return meta.SetList(list, inScope)
		},
	})
}

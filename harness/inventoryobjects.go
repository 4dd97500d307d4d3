package harness

import (
	"context"
	"fmt"
	"reflect"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/certwave/certwave/sim/model"
)

// inventoryObjects returns the objects the model built from the inventory,
// ready to create in another API server: Namespaces, GatewayClasses,
// issuers, Secrets, ReferenceGrants, Certificates, Gateways and HTTPRoutes,
// in that order.
// It leaves out reflector's mirrors, which the mirroring controller makes,
// and what the model's cert-manager made (CertificateRequests, Orders).
// Status is cleared for the real controllers to set; owner references are
// dropped, because their UIDs are the model's.
//
// NOTE: ReferenceGrants are created as gateway.networking.k8s.io/v1, which
// Gateway API serves from v1.5.0 (the local stack installs v1.6.0), so a
// cluster on an older release rejects them.
func inventoryObjects(ctx context.Context, from client.Client) ([]client.Object, error) {
	lists := []client.ObjectList{
		&corev1.NamespaceList{}, &gwapiv1.GatewayClassList{}, &cmapi.ClusterIssuerList{}, &cmapi.IssuerList{},
		&corev1.SecretList{}, &gwapiv1.ReferenceGrantList{}, &cmapi.CertificateList{}, &gwapiv1.GatewayList{}, &gwapiv1.HTTPRouteList{},
	}
	var out []client.Object
	for _, list := range lists {
		if err := from.List(ctx, list); err != nil {
			return nil, err
		}
		items, err := model.ListObjects(list)
		if err != nil {
			return nil, err
		}
		for _, o := range items {
			if _, mirror := o.GetAnnotations()["reflector.v1.k8s.emberstack.com/auto-reflects"]; mirror {
				continue
			}
			o.SetResourceVersion("")
			o.SetUID("")
			o.SetManagedFields(nil)
			o.SetOwnerReferences(nil)
			o.SetCreationTimestamp(metav1.Time{})
			clearStatus(o)
			out = append(out, o)
		}
	}
	return out, nil
}

// copyInventory creates in the API server the objects the model built
// from the inventory (inventoryObjects). It skips objects that exist
// already, such as the ACME ClusterIssuer the local stack created.
func copyInventory(ctx context.Context, objects []client.Object, to client.Client) error {
	for _, o := range objects {
		if err := to.Create(ctx, o, client.FieldOwner("certwave-inventory")); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("local world: creating %T %s/%s: %w", o, o.GetNamespace(), o.GetName(), err)
		}
	}
	return nil
}

// clearStatus zeroes the Status field of a typed object, if it has one.
func clearStatus(o client.Object) {
	if f := reflect.ValueOf(o).Elem().FieldByName("Status"); f.IsValid() && f.CanSet() {
		f.Set(reflect.Zero(f.Type()))
	}
}

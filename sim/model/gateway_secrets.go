package model

import (
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// gatewaySecretWrites counts the writes of Secrets that a listener of a
// served Gateway references. Of the Secrets the model has, Envoy Gateway
// passes an event on to its translator only for those a Gateway of its
// class references (validateSecretForReconcile and secretGatewayIndex in
// internal/provider/kubernetes, v1.8.0 and v1.9.1; the other references it
// follows are of policies the model does not have). So the edge is
// computed again after these writes, and not after writes of other
// Secrets: ACME account keys, the private CA's key, or the Secrets of
// Certificates that no listener uses yet.
const gatewaySecretWrites = "Secret/gateway"

// gatewaySecretIndex is the set of Secrets that listeners reference, as
// namespace/name, with the write counters it was built at.
type gatewaySecretIndex struct {
	version string
	keys    map[string]bool
}

// gatewayReferencesSecret reports whether a listener of a served Gateway
// references the Secret. As in Envoy Gateway's secretGatewayIndex, the
// references are the certificateRefs of kind Secret of the listeners that
// terminate TLS, in the Gateway's namespace unless the ref names another.
func (w *World) gatewayReferencesSecret(namespace, name string) bool {
	version := w.writeVersion("Gateway", "GatewayClass")
	if w.secretIndex == nil || w.secretIndex.version != version {
		w.secretIndex = &gatewaySecretIndex{version: version, keys: w.gatewaySecrets()}
	}
	return w.secretIndex.keys[namespace+"/"+name]
}

func (w *World) gatewaySecrets() map[string]bool {
	keys := map[string]bool{}
	var classes gwapiv1.GatewayClassList
	var gateways gwapiv1.GatewayList
	if w.api.listShared(&classes) != nil || w.api.listShared(&gateways) != nil {
		return nil
	}
	served := map[string]bool{}
	for _, c := range classes.Items {
		ctrl := string(c.Spec.ControllerName)
		served[c.Name] = ctrl == envoyGatewayController || ctrl == istioController
	}
	for i := range gateways.Items {
		gw := &gateways.Items[i]
		if !served[string(gw.Spec.GatewayClassName)] {
			continue
		}
		for _, l := range gw.Spec.Listeners {
			if l.TLS == nil || (l.TLS.Mode != nil && *l.TLS.Mode != gwapiv1.TLSModeTerminate) {
				continue
			}
			for _, ref := range l.TLS.CertificateRefs {
				if ref.Kind != nil && *ref.Kind != "Secret" {
					continue
				}
				keys[certificateRefNamespace(gw, ref)+"/"+string(ref.Name)] = true
			}
		}
	}
	return keys
}

package model

import (
	"testing"
	"fmt"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
)

func TestTmp(t *testing.T) {
	w := newReferenceWorld(t, Options{})
	applyListeners(t, w, "network", "internal", httpsListener("https-grafana", "grafana.example.com", "grafana-tls"))
	var gw gwapiv1.Gateway
	getObject(t, w, "network", "internal", &gw)
	fmt.Printf("class=%q\n", gw.Spec.GatewayClassName)
}

package main

import (
	// The issuers controllers set up only registered issuer types: ACME, CA
	// and selfSigned. Vault and Venafi issuers are left out.
	_ "github.com/cert-manager/cert-manager/pkg/issuer/acme"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"

	"github.com/cert-manager/cert-manager/pkg/controller/acmechallenges"
	"github.com/cert-manager/cert-manager/pkg/controller/acmeorders"
	gatewayshim "github.com/cert-manager/cert-manager/pkg/controller/certificate-shim/gateways"
	cracme "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/acme"
	"github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	crca "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	crselfsigned "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	"github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	"github.com/cert-manager/cert-manager/pkg/controller/issuers"
)

// rehearsalControllers are the controllers that "*" in the controllers list
// stands for: every step from a Gateway annotation to an issued Secret, for
// ACME, CA and selfSigned issuers. The controller packages register
// themselves with cert-manager's controller registry when imported.
var rehearsalControllers = []string{
	issuers.ControllerName,
	clusterissuers.ControllerName,
	gatewayshim.ControllerName,
	acmeorders.ControllerName,
	acmechallenges.ControllerName,
	approver.ControllerName,
	cracme.CRControllerName,
	crca.CRControllerName,
	crselfsigned.CRControllerName,
	trigger.ControllerName,
	issuing.ControllerName,
	keymanager.ControllerName,
	requestmanager.ControllerName,
	readiness.ControllerName,
	revisionmanager.ControllerName,
}

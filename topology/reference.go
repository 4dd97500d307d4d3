package topology

import "fmt"

// ReferenceDomain is the apex domain of the reference topology.
const ReferenceDomain = "example.com"

// Apps of the reference topology per Gateway. The counts follow the
// migration runbook: external 11, internal 50, mcp-gateway 9, istio 2.
var (
	referenceExternalApps = []string{
		"auth", "blog", "cloud", "git", "jellyfin", "matrix",
		"ntfy", "photos", "request", "status", "vault",
	}
	referenceInternalApps = []string{
		"adguard", "alertmanager", "audiobookshelf", "autobrr", "bazarr", "calibre",
		"changedetection", "code", "comfyui", "dashboard", "echo", "esphome",
		"filebrowser", "flood", "frigate", "gatus", "grafana", "headlamp",
		"home", "homebox", "immich", "jdownloader", "kavita", "kopia",
		"lidarr", "longhorn", "mealie", "minio", "n8n", "navidrome",
		"nzbget", "ollama", "omada", "openwebui", "paperless", "pgadmin",
		"plex", "prometheus", "prowlarr", "qbittorrent", "radarr", "readarr",
		"recyclarr", "sabnzbd", "slskd", "sonarr", "stash", "tautulli",
		"unifi", "zigbee",
	}
	referenceMCPApps = []string{
		"brave", "context7", "fetch", "filesystem", "github",
		"grafana", "kubernetes", "memory", "time",
	}
	referenceIstioApps = []string{"bookinfo", "kiali"}
)

// WildcardSecret is the Secret name of the reference wildcard Certificate.
const WildcardSecret = "example-com-tls"

// Reference returns the built-in reference topology as the migration runbook
// describes it: four Gateways (external and internal of class envoy in
// network, mcp-gateway of class istio in mcp-system, istio of class istio in
// istio-system), 72 HTTPRoutes each bound to its Gateway's https listener by
// sectionName, one wildcard Certificate in network issued by the ACME
// ClusterIssuer letsencrypt-production over DNS01, and reflector mirroring
// its Secret to istio-system and mcp-system. cert-manager v1.21.2 runs with
// Gateway API support enabled.
func Reference() *Inventory {
	inv := &Inventory{
		Source: "reference",
		Domain: ReferenceDomain,
		CertManager: CertManager{
			Version:           "v1.21.2",
			GatewayAPIEnabled: true,
			Found:             true,
		},
		Issuers: []Issuer{{
			Kind:       "ClusterIssuer",
			Name:       "letsencrypt-production",
			Type:       IssuerACME,
			ACMEServer: "https://acme-v02.api.letsencrypt.org/directory",
			Solvers:    []string{"dns01/cloudflare"},
		}},
		Certificates: []Certificate{{
			Namespace:  "network",
			Name:       ReferenceDomain,
			SecretName: WildcardSecret,
			CommonName: ReferenceDomain,
			DNSNames: []string{
				ReferenceDomain, "*.app." + ReferenceDomain,
				"*.mcp." + ReferenceDomain, "*." + ReferenceDomain,
			},
			IssuerRef: IssuerRef{Kind: "ClusterIssuer", Name: "letsencrypt-production"},
			SecretAnnotations: map[string]string{
				AnnotationReflectionAllowed:           "true",
				AnnotationReflectionAllowedNamespaces: "network,istio-system,mcp-system",
				AnnotationReflectionAutoEnabled:       "true",
			},
		}},
		ClientPaths: []ClientPath{{Name: "direct", Kind: ClientPathDirect}},
	}

	addReferenceGateway(inv, "network", "external", "envoy", "", referenceExternalApps, ReferenceDomain)
	addReferenceGateway(inv, "network", "internal", "envoy", "", referenceInternalApps, ReferenceDomain)
	addReferenceGateway(inv, "mcp-system", "mcp-gateway", "istio", "*.mcp."+ReferenceDomain, referenceMCPApps, "mcp."+ReferenceDomain)
	addReferenceGateway(inv, "istio-system", "istio", "istio", "*.app."+ReferenceDomain, referenceIstioApps, "app."+ReferenceDomain)

	inv.Finalize()
	return inv
}

// addReferenceGateway adds a Gateway with an http and an https listener on
// the wildcard Secret, and one HTTPRoute per app in a namespace of its own,
// bound to the https listener.
func addReferenceGateway(inv *Inventory, namespace, name, class, hostname string, apps []string, zone string) {
	inv.Gateways = append(inv.Gateways, Gateway{
		Namespace: namespace,
		Name:      name,
		Class:     class,
		Listeners: []Listener{
			{Name: "http", Port: 80, Protocol: ProtocolHTTP, Hostname: hostname, AllowedNamespaces: "Same"},
			{
				Name: "https", Port: 443, Protocol: ProtocolHTTPS, Hostname: hostname,
				TLSMode:           TLSModeTerminate,
				CertificateRefs:   []SecretRef{{Name: WildcardSecret}},
				AllowedNamespaces: "All",
			},
		},
	})
	for _, app := range apps {
		inv.Routes = append(inv.Routes, Route{
			Namespace: referenceAppNamespace(name),
			Name:      app,
			Hostnames: []string{fmt.Sprintf("%s.%s", app, zone)},
			ParentRefs: []ParentRef{{
				Namespace: namespace, Name: name, SectionName: "https",
			}},
		})
	}
}

// referenceAppNamespace puts each Gateway's apps in a namespace of their own
// so that route names never collide across Gateways.
func referenceAppNamespace(gateway string) string {
	switch gateway {
	case "external":
		return "apps-public"
	case "internal":
		return "apps"
	case "mcp-gateway":
		return "mcp-system"
	default:
		return "istio-apps"
	}
}

// Package apiserver is the Kubernetes-compatible face of a node's HTTP API:
// what kubectl, client-go and Helm read before they touch an object. It
// serves discovery (/api, /api/v1, /apis, /apis/GROUP, /apis/GROUP/VERSION,
// in the legacy documents and in aggregated discovery,
// apidiscovery.k8s.io/v2, which client-go asks for first) and /version, for
// the kinds the api registry holds, with the verbs shoal serves. Documents
// are built once from the registry and never change while the process runs;
// the handlers are safe for concurrent use.
package apiserver

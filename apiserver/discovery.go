package apiserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"strings"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/version"

	"github.com/shoal-dev/shoal/api"
)

// Verbs are what shoal serves on every kind's collection and objects.
// PATCH and deletecollection are not served yet, so they are not offered:
// a client that reads discovery does not try them.
var Verbs = metav1.Verbs{"get", "list", "watch", "create", "update", "delete"}

// Discovery serves the discovery documents and /version.
type Discovery struct {
	// Version is shoal's version ("v0.3.1"; "dev" for a build without
	// one); /version reports it in GitVersion's build metadata.
	Version string

	core      metav1.APIResourceList            // /api/v1
	groups    map[string]metav1.APIResourceList // "group/version" → its resources
	groupList metav1.APIGroupList               // /apis
	aggCore   apidiscoveryv2.APIGroupDiscoveryList
	aggGroups apidiscoveryv2.APIGroupDiscoveryList
}

// NewDiscovery builds the documents for resources: the kinds served to
// clients (the api registry's, without the cluster's own bookkeeping).
func NewDiscovery(version string, resources []api.Resource) *Discovery {
	d := &Discovery{Version: version, groups: map[string]metav1.APIResourceList{}}
	d.core = metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: "v1"}
	byGroup := map[string][]api.Resource{}
	for _, r := range resources {
		if r.System {
			continue
		}
		byGroup[r.APIVersion()] = append(byGroup[r.APIVersion()], r)
	}
	gvs := make([]string, 0, len(byGroup))
	for gv := range byGroup {
		gvs = append(gvs, gv)
	}
	slices.Sort(gvs)
	d.groupList = metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
	d.aggCore = apidiscoveryv2.APIGroupDiscoveryList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupDiscoveryList", APIVersion: "apidiscovery.k8s.io/v2"}}
	d.aggGroups = d.aggCore
	for _, gv := range gvs {
		rs := byGroup[gv]
		slices.SortFunc(rs, func(a, b api.Resource) int { return strings.Compare(a.Plural, b.Plural) })
		list := metav1.APIResourceList{TypeMeta: d.core.TypeMeta, GroupVersion: gv}
		agg := apidiscoveryv2.APIVersionDiscovery{Version: rs[0].Version, Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent}
		for _, r := range rs {
			list.APIResources = append(list.APIResources, apiResources(r)...)
			agg.Resources = append(agg.Resources, aggregated(r))
		}
		group := rs[0].Group
		aggGroup := apidiscoveryv2.APIGroupDiscovery{ObjectMeta: metav1.ObjectMeta{Name: group}, Versions: []apidiscoveryv2.APIVersionDiscovery{agg}}
		if group == "" {
			d.core = list
			d.aggCore.Items = append(d.aggCore.Items, aggGroup)
			continue
		}
		d.groups[gv] = list
		d.aggGroups.Items = append(d.aggGroups.Items, aggGroup)
		pv := metav1.GroupVersionForDiscovery{GroupVersion: gv, Version: rs[0].Version}
		d.groupList.Groups = append(d.groupList.Groups, metav1.APIGroup{
			TypeMeta: metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"},
			Name:     group, Versions: []metav1.GroupVersionForDiscovery{pv}, PreferredVersion: pv,
		})
	}
	return d
}

// singular is the resource's singular name, as kubectl shows it.
func singular(r api.Resource) string { return strings.ToLower(r.Kind) }

// apiResources are r and its subresources as a legacy APIResourceList lists
// them.
func apiResources(r api.Resource) []metav1.APIResource {
	out := []metav1.APIResource{{
		Name: r.Plural, SingularName: singular(r), Namespaced: r.Namespaced, Kind: r.Kind,
		Verbs: Verbs, ShortNames: r.ShortNames,
	}}
	for _, sub := range subresources(r) {
		out = append(out, metav1.APIResource{Name: r.Plural + "/" + sub.name, Namespaced: r.Namespaced, Kind: sub.kind, Verbs: sub.verbs})
	}
	return out
}

type subresource struct {
	name, kind string
	verbs      metav1.Verbs
}

// subresources are what shoal serves under an object of r.
func subresources(r api.Resource) []subresource {
	var out []subresource
	if r.HasStatus {
		out = append(out, subresource{"status", r.Kind, metav1.Verbs{"get", "update"}})
	}
	if r.Kind == "Pod" {
		out = append(out, subresource{"exec", "PodExecOptions", metav1.Verbs{"create"}}, subresource{"log", "Pod", metav1.Verbs{"get"}})
	}
	return out
}

func aggregated(r api.Resource) apidiscoveryv2.APIResourceDiscovery {
	scope := apidiscoveryv2.ScopeCluster
	if r.Namespaced {
		scope = apidiscoveryv2.ScopeNamespace
	}
	out := apidiscoveryv2.APIResourceDiscovery{
		Resource: r.Plural, SingularResource: singular(r), Scope: scope, Verbs: Verbs, ShortNames: r.ShortNames,
		ResponseKind: &metav1.GroupVersionKind{Group: r.Group, Version: r.Version, Kind: r.Kind},
	}
	for _, sub := range subresources(r) {
		out.Subresources = append(out.Subresources, apidiscoveryv2.APISubresourceDiscovery{
			Subresource: sub.name, Verbs: sub.verbs,
			ResponseKind: &metav1.GroupVersionKind{Group: r.Group, Version: r.Version, Kind: sub.kind},
		})
	}
	return out
}

// Register adds the discovery routes to mux. They take GET only; the
// object routes under /api/ and /apis/ stay the mux's other handlers'.
func (d *Discovery) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /version", d.serveVersion)
	for _, p := range []string{"/api", "/api/{$}"} {
		mux.HandleFunc("GET "+p, d.serveCoreVersions)
	}
	for _, p := range []string{"/api/v1", "/api/v1/{$}"} {
		mux.HandleFunc("GET "+p, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, d.core) })
	}
	for _, p := range []string{"/apis", "/apis/{$}"} {
		mux.HandleFunc("GET "+p, d.serveGroups)
	}
	for _, p := range []string{"/apis/{group}", "/apis/{group}/{$}"} {
		mux.HandleFunc("GET "+p, d.serveGroup)
	}
	for _, p := range []string{"/apis/{group}/{version}", "/apis/{group}/{version}/{$}"} {
		mux.HandleFunc("GET "+p, d.serveGroupVersion)
	}
}

// KubernetesVersion is the Kubernetes release whose API shoal speaks: the
// release of its k8s.io modules.
const KubernetesVersion = "v1.37.2"

func (d *Discovery) serveVersion(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, version.Info{
		Major: "1", Minor: "37", GitVersion: GitVersion(d.Version), GoVersion: runtime.Version(),
		Compiler: runtime.Compiler, Platform: runtime.GOOS + "/" + runtime.GOARCH,
	})
}

// GitVersion is what /version reports: the Kubernetes version of the API,
// with shoal's own version as semver build metadata ("v1.37.2+shoal.v0.3.1"),
// so that clients which parse it (kubectl's skew check, Helm's kubeVersion)
// read a Kubernetes version.
func GitVersion(shoal string) string {
	meta := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-' || r == '.' {
			return r
		}
		return '-'
	}, shoal)
	meta = strings.Trim(meta, ".")
	if meta == "" {
		meta = "dev"
	}
	return KubernetesVersion + "+shoal." + meta
}

func (d *Discovery) serveCoreVersions(w http.ResponseWriter, r *http.Request) {
	if wantsAggregated(r) {
		writeAggregated(w, d.aggCore)
		return
	}
	writeJSON(w, metav1.APIVersions{
		TypeMeta: metav1.TypeMeta{Kind: "APIVersions"}, Versions: []string{"v1"},
		ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0", ServerAddress: r.Host}},
	})
}

func (d *Discovery) serveGroups(w http.ResponseWriter, r *http.Request) {
	if wantsAggregated(r) {
		writeAggregated(w, d.aggGroups)
		return
	}
	writeJSON(w, d.groupList)
}

func (d *Discovery) serveGroup(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("group")
	for _, g := range d.groupList.Groups {
		if g.Name == name {
			writeJSON(w, g)
			return
		}
	}
	notFound(w, "the server could not find the API group %q (see `kubectl api-resources` for the groups it serves)", name)
}

func (d *Discovery) serveGroupVersion(w http.ResponseWriter, r *http.Request) {
	gv := r.PathValue("group") + "/" + r.PathValue("version")
	list, ok := d.groups[gv]
	if !ok {
		notFound(w, "the server could not find the API group version %q (see `kubectl api-resources` for the groups it serves)", gv)
		return
	}
	writeJSON(w, list)
}

// aggregatedType is the media type of aggregated discovery, v2.
const aggregatedType = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

// wantsAggregated reports whether the request's Accept header asks for
// aggregated discovery v2 (client-go lists it before the legacy types).
func wantsAggregated(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		params := map[string]string{}
		for _, p := range strings.Split(part, ";")[1:] {
			if k, v, ok := strings.Cut(strings.TrimSpace(p), "="); ok {
				params[k] = v
			}
		}
		if params["g"] == "apidiscovery.k8s.io" && params["v"] == "v2" && params["as"] == "APIGroupDiscoveryList" {
			return true
		}
	}
	return false
}

func writeAggregated(w http.ResponseWriter, list apidiscoveryv2.APIGroupDiscoveryList) {
	w.Header().Set("Content-Type", aggregatedType)
	w.Header().Set("Vary", "Accept")
	json.NewEncoder(w).Encode(list)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Vary", "Accept")
	json.NewEncoder(w).Encode(v)
}

// notFound answers 404 with a metav1.Status, as Kubernetes does.
func notFound(w http.ResponseWriter, format string, args ...any) {
	st := metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusFailure,
		Message: fmt.Sprintf(format, args...), Reason: metav1.StatusReasonNotFound, Code: http.StatusNotFound,
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusNotFound)
	json.NewEncoder(w).Encode(st)
}

package api

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Resource describes one kind of object: where it lives in the HTTP API and
// how to make an empty one.
type Resource struct {
	Group      string // "" for the core group
	Version    string // "v1"
	Kind       string // "ConfigMap"
	Plural     string // "configmaps"
	Namespaced bool
	// System kinds hold the cluster's own bookkeeping (credentials, join
	// tokens, keys). The generic object API does not write them; dedicated
	// endpoints do, and only administrators may read them.
	System bool
	// ShortNames are the aliases kubectl knows the kind by ("deploy", "po").
	ShortNames []string
	// HasStatus says the kind has a status subresource: status is written
	// by the system through it, and a write of the object ignores status.
	HasStatus bool
	New       func() Object
}

// APIVersion returns "v1" for the core group and "group/version" otherwise.
func (r Resource) APIVersion() string {
	if r.Group == "" {
		return r.Version
	}
	return r.Group + "/" + r.Version
}

// Path returns the collection path for the resource in namespace ns
// (ignored for cluster-scoped kinds); an empty ns on a namespaced kind means
// every namespace.
func (r Resource) Path(ns string) string {
	var b strings.Builder
	if r.Group == "" {
		b.WriteString("/api/" + r.Version)
	} else {
		b.WriteString("/apis/" + r.Group + "/" + r.Version)
	}
	if r.Namespaced && ns != "" {
		b.WriteString("/namespaces/" + ns)
	}
	b.WriteString("/" + r.Plural)
	return b.String()
}

var registry = struct {
	sync.RWMutex
	byKind map[string]Resource
}{byKind: map[string]Resource{}}

// Register adds a kind to the registry. It panics on a duplicate kind; it is
// meant to be called from init functions.
func Register(r Resource) {
	registry.Lock()
	defer registry.Unlock()
	if _, ok := registry.byKind[r.Kind]; ok {
		panic("api: kind registered twice: " + r.Kind)
	}
	registry.byKind[r.Kind] = r
}

// ResourceForKind returns the registered resource for a kind.
func ResourceForKind(kind string) (Resource, bool) {
	registry.RLock()
	defer registry.RUnlock()
	r, ok := registry.byKind[kind]
	return r, ok
}

// ResourceForPath finds a resource by group, version and plural name.
func ResourceForPath(group, version, plural string) (Resource, bool) {
	registry.RLock()
	defer registry.RUnlock()
	for _, r := range registry.byKind {
		if r.Group == group && r.Version == version && r.Plural == plural {
			return r, true
		}
	}
	return Resource{}, false
}

// ResourceForName finds a resource by a name a user would type: the kind,
// its plural, its singular or a short name, in any case ("deployment",
// "Deployments", "deploy"), optionally qualified by its group
// ("deployments.apps").
func ResourceForName(name string) (Resource, bool) {
	registry.RLock()
	defer registry.RUnlock()
	n := strings.ToLower(name)
	group := ""
	if i := strings.IndexByte(n, '.'); i >= 0 {
		n, group = n[:i], n[i+1:]
	}
	for _, r := range registry.byKind {
		if group != "" && group != r.Group {
			continue
		}
		k := strings.ToLower(r.Kind)
		if n == k || n == r.Plural || n == k+"s" {
			return r, true
		}
		for _, s := range r.ShortNames {
			if n == s {
				return r, true
			}
		}
	}
	return Resource{}, false
}

// Kinds lists the registered kinds in sorted order.
func Kinds() []string {
	registry.RLock()
	defer registry.RUnlock()
	out := make([]string, 0, len(registry.byKind))
	for k := range registry.byKind {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Resources lists the registered resources, sorted by kind.
func Resources() []Resource {
	registry.RLock()
	defer registry.RUnlock()
	out := make([]Resource, 0, len(registry.byKind))
	for _, r := range registry.byKind {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind < out[j].Kind })
	return out
}

// New returns an empty object of the given kind with its TypeMeta filled in.
func New(kind string) (Object, error) {
	r, ok := ResourceForKind(kind)
	if !ok {
		return nil, fmt.Errorf("api: unknown kind %q (known kinds: %s)", kind, strings.Join(Kinds(), ", "))
	}
	obj := r.New()
	*obj.GetTypeMeta() = TypeMeta{APIVersion: r.APIVersion(), Kind: r.Kind}
	return obj, nil
}

// DecodeJSON decodes data into a new object of the given kind.
func DecodeJSON(kind string, data []byte) (Object, error) {
	obj, err := New(kind)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, obj); err != nil {
		return nil, fmt.Errorf("api: decode %s: %w", kind, err)
	}
	tm := obj.GetTypeMeta()
	if tm.Kind == "" {
		tm.Kind = kind
	}
	if tm.APIVersion == "" {
		tm.APIVersion, _ = apiVersionOf(kind)
	}
	return obj, nil
}

func apiVersionOf(kind string) (string, bool) {
	r, ok := ResourceForKind(kind)
	return r.APIVersion(), ok
}

// Copy returns a deep copy of obj.
func Copy[T Object](obj T) T {
	data, err := json.Marshal(obj)
	if err != nil {
		panic("api: copy: " + err.Error())
	}
	out, err := DecodeJSON(obj.GetTypeMeta().Kind, data)
	if err != nil {
		panic("api: copy: " + err.Error())
	}
	return out.(T)
}

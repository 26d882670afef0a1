package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/http/httputil"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/consensus"
	"github.com/shoal-dev/shoal/placement"
	"github.com/shoal-dev/shoal/state"
)

// objectRef is what a resource path names.
type objectRef struct {
	res  api.Resource
	ns   string
	name string
	sub  string // "status" for the status subresource
}

// parseObjectPath understands /api/v1/... and /apis/<group>/<version>/...
func parseObjectPath(path string) (objectRef, error) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	var group, version string
	switch {
	case len(segs) >= 3 && segs[0] == "api":
		version, segs = segs[1], segs[2:]
	case len(segs) >= 4 && segs[0] == "apis":
		group, version, segs = segs[1], segs[2], segs[3:]
	default:
		return objectRef{}, api.NewError(api.ReasonNotFound, "no API at %s: paths look like /api/v1/namespaces/NS/configmaps/NAME or /apis/GROUP/VERSION/...", path)
	}
	var ref objectRef
	if len(segs) >= 3 && segs[0] == "namespaces" {
		ref.ns, segs = segs[1], segs[2:]
		if err := api.ValidateNamespace(ref.ns); err != nil {
			return ref, err
		}
	}
	if len(segs) == 3 && segs[2] == "status" {
		ref.sub, segs = "status", segs[:2]
	}
	if len(segs) > 2 {
		return ref, api.NewError(api.ReasonNotFound, "no API at %s", path)
	}
	res, ok := api.ResourceForPath(group, version, segs[0])
	if !ok {
		return ref, api.NewError(api.ReasonNotFound, "the server does not know resource %q in %s (known kinds: %s)", segs[0], strings.TrimPrefix(group+"/"+version, "/"), strings.Join(api.Kinds(), ", "))
	}
	ref.res = res
	if len(segs) == 2 {
		ref.name = segs[1]
	}
	if !res.Namespaced && ref.ns != "" {
		return ref, api.NewError(api.ReasonNotFound, "%s is cluster-scoped: use %s", res.Kind, res.Path(""))
	}
	return ref, nil
}

func (r objectRef) key() api.Key { return api.Key{Kind: r.res.Kind, Namespace: r.ns, Name: r.name} }

func (a *Agent) handleObjects(w http.ResponseWriter, r *http.Request) {
	ref, err := parseObjectPath(r.URL.Path)
	if err != nil {
		writeError(w, err)
		return
	}
	q := r.URL.Query()
	switch {
	case ref.sub != "" && r.Method != http.MethodGet && r.Method != http.MethodPut:
		writeError(w, api.NewError(api.ReasonMethodNotAllowed, "%s is not allowed on the status subresource; use GET or PUT", r.Method))
	case r.Method == http.MethodGet && q.Get("watch") == "true" && ref.name == "":
		a.watchObjects(w, r, ref)
	case r.Method == http.MethodGet:
		a.readObjects(w, r, ref)
	case r.Method == http.MethodPost && ref.name == "":
		a.writeObject(w, r, ref, state.PutCreate)
	case r.Method == http.MethodPut && ref.name != "":
		a.writeObject(w, r, ref, state.PutUpdate)
	case r.Method == http.MethodDelete && ref.name != "":
		a.deleteObject(w, r, ref)
	default:
		writeError(w, api.NewError(api.ReasonMethodNotAllowed, "%s is not allowed on %s", r.Method, r.URL.Path))
	}
}

func (a *Agent) readObjects(w http.ResponseWriter, r *http.Request, ref objectRef) {
	if r.URL.Query().Get("consistent") == "true" {
		if !a.raft.IsLeader() {
			a.proxyToLeader(w, r)
			return
		}
		if err := a.raft.VerifyRead(r.Context()); err != nil {
			writeError(w, api.NewError(api.ReasonServiceUnavailable, "consistent read: this node lost leadership (%v); retry", err))
			return
		}
	}
	if ref.name != "" {
		obj, err := a.store.Get(ref.key())
		setIndex(w, a.store.Index())
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, a.present(obj))
		return
	}
	f, err := parseFilter(ref.res.Kind, r.URL.Query())
	if err != nil {
		writeError(w, err)
		return
	}
	items, idx := a.store.List(ref.res.Kind, ref.ns)
	items = a.presentAll(f.apply(items))
	setIndex(w, idx)
	list := map[string]any{
		"apiVersion": ref.res.APIVersion(),
		"kind":       ref.res.Kind + "List",
		"metadata":   map[string]string{"resourceVersion": strconv.FormatUint(idx, 10)},
		"items":      items,
	}
	if items == nil {
		list["items"] = []api.Object{}
	}
	writeJSON(w, http.StatusOK, list)
}

// proxyToLeader sends a consistent read to the leader.
func (a *Agent) proxyToLeader(w http.ResponseWriter, r *http.Request) {
	leaderAPI, ok := a.leaderAPI()
	if !ok {
		writeError(w, a.noLeaderError())
		return
	}
	rp := &httputil.ReverseProxy{
		Transport: a.client.Transport,
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = a.scheme()
			pr.Out.URL.Host = leaderAPI
		},
		// What the leader answers reflects its index: reads through this
		// node afterwards wait for the replica to have it.
		ModifyResponse: func(resp *http.Response) error {
			if idx, err := strconv.ParseUint(resp.Header.Get(api.IndexHeader), 10, 64); err == nil {
				a.raiseReadFloor(idx)
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			writeError(w, api.NewError(api.ReasonServiceUnavailable, "cannot reach the leader at %s: %v; retry", leaderAPI, err))
		},
	}
	rp.ServeHTTP(w, r)
}

// decodeObject reads the request body as an object of ref's kind, refusing
// unknown fields and a body that contradicts the path.
func decodeObject(r *http.Request, ref objectRef) (api.Object, error) {
	if err := requireJSON(r, ref); err != nil {
		return nil, err
	}
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	obj, err := api.New(ref.res.Kind)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(obj); err != nil {
		return nil, api.NewError(api.ReasonBadRequest, "%s: %v", strings.ToLower(ref.res.Kind), err)
	}
	tm, meta := obj.GetTypeMeta(), obj.GetObjectMeta()
	if tm.Kind != "" && tm.Kind != ref.res.Kind {
		return nil, api.NewError(api.ReasonBadRequest, "kind %q in the body does not match the path, which is for %s", tm.Kind, ref.res.Kind)
	}
	if tm.APIVersion != "" && tm.APIVersion != ref.res.APIVersion() {
		return nil, api.NewError(api.ReasonBadRequest, "%s %q: apiVersion %q does not match the path (use %q)", ref.res.Kind, meta.Name, tm.APIVersion, ref.res.APIVersion())
	}
	*tm = api.TypeMeta{APIVersion: ref.res.APIVersion(), Kind: ref.res.Kind}
	if ref.res.Namespaced {
		if meta.Namespace == "" {
			meta.Namespace = ref.ns
		}
		if meta.Namespace == "" {
			meta.Namespace = "default"
		}
		if ref.ns != "" && meta.Namespace != ref.ns {
			return nil, api.NewError(api.ReasonBadRequest, "%s %q: metadata.namespace %q does not match the namespace in the path (%q)", ref.res.Kind, meta.Name, meta.Namespace, ref.ns)
		}
		if err := api.ValidateNamespace(meta.Namespace); err != nil {
			return nil, err
		}
	} else if meta.Namespace != "" {
		return nil, api.NewError(api.ReasonBadRequest, "%s %q is cluster-scoped: remove metadata.namespace", ref.res.Kind, meta.Name)
	}
	if ref.name != "" && meta.Name != ref.name {
		return nil, api.NewError(api.ReasonBadRequest, "%s: metadata.name %q does not match the name in the path (%q)", ref.res.Kind, meta.Name, ref.name)
	}
	if err := api.ValidateName(ref.res.Kind, meta.Name); err != nil {
		return nil, err
	}
	api.SetDefaults(obj)
	if err := api.Validate(obj); err != nil {
		return nil, err
	}
	return obj, nil
}

// requireJSON refuses a body in another encoding than JSON (Kubernetes
// clients may send protobuf or CBOR first) with 415, on which they send
// JSON. A request without a Content-Type is taken as JSON.
func requireJSON(r *http.Request, ref objectRef) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && mt == "application/json" {
		return nil
	}
	return api.NewError(api.ReasonUnsupportedMediaType, "%s: the body is %q; send it as application/json", strings.ToLower(ref.res.Kind), ct)
}

func (a *Agent) writeObject(w http.ResponseWriter, r *http.Request, ref objectRef, mode state.Mode) {
	if ref.res.System {
		writeError(w, api.NewError(api.ReasonMethodNotAllowed, "%s objects are managed by the cluster: use `shoal credentials` or `shoal token`", ref.res.Kind))
		return
	}
	obj, err := decodeObject(r, ref)
	if err == nil {
		err = a.sealIn(obj)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	meta := obj.GetObjectMeta()
	if ref.sub == "status" {
		a.writeStatus(w, r, ref, obj)
		return
	}
	if mode == state.PutUpdate {
		// Status belongs to the system: an update keeps the status stored
		// when it commits. Without a resourceVersion it is unconditional.
		api.CopyStatus(ref.res.New(), obj)
	}
	if mode == state.PutCreate {
		api.CopyStatus(ref.res.New(), obj) // status is the system's to write
		if meta.ResourceVersion != "" {
			writeError(w, api.NewError(api.ReasonBadRequest, "%s %q: metadata.resourceVersion must not be set on create; remove it", ref.res.Kind, meta.Name))
			return
		}
		prepareCreate(obj)
	}
	code := http.StatusOK
	if mode == state.PutCreate {
		code = http.StatusCreated
	}
	put := state.Change{Put: obj, Mode: mode, KeepStatus: mode == state.PutUpdate}
	a.commit(w, r.Context(), code, append([]state.Change{put}, namespaceCheck(ref.res, meta.Namespace)...)...)
}

// writeStatus replaces the status of the object at ref with obj's and
// keeps everything else as it is when the write commits. With a
// resourceVersion it is a compare-and-set.
func (a *Agent) writeStatus(w http.ResponseWriter, r *http.Request, ref objectRef, obj api.Object) {
	cur, err := a.store.Get(ref.key())
	if err != nil {
		writeError(w, err)
		return
	}
	key := ref.key()
	check := state.Change{Check: &key}
	if rv := obj.GetObjectMeta().ResourceVersion; rv != "" {
		if check.ExpectVersion, err = strconv.ParseUint(rv, 10, 64); err != nil {
			writeError(w, api.NewError(api.ReasonInvalid, "%s: metadata.resourceVersion: %q is not a resourceVersion (the decimal index of the write that stored the object, such as \"42\"; leave it empty for an unconditional write)", describeKey(key), rv))
			return
		}
	}
	obj.GetObjectMeta().UID = cur.GetObjectMeta().UID
	res, err := a.commitForClient(r.Context(), check, state.Change{Put: obj, Mode: state.PutStatus})
	if res != nil {
		setIndex(w, res.Index)
	}
	if err == nil && len(res.Objects) == 0 {
		err = api.NewError(api.ReasonConflict, "%s was deleted and created again while its status was written; re-read it and retry", describeKey(ref.key()))
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, a.present(res.Objects[0]))
}

// namespaceCheck makes a write of a namespaced object fail unless its
// namespace exists when the write commits.
func namespaceCheck(res api.Resource, ns string) []state.Change {
	if !res.Namespaced {
		return nil
	}
	return []state.Change{{Check: &api.Key{Kind: "Namespace", Name: ns}}}
}

func (a *Agent) deleteObject(w http.ResponseWriter, r *http.Request, ref objectRef) {
	if ref.res.Kind == "Namespace" && slices.Contains(placement.Undeletable, ref.name) {
		writeError(w, api.NewError(api.ReasonForbidden, "namespace %q cannot be deleted: it is one of the cluster's own", ref.name))
		return
	}
	if ref.res.System {
		writeError(w, api.NewError(api.ReasonMethodNotAllowed, "%s objects are managed by the cluster: use `shoal credentials` or `shoal token`", ref.res.Kind))
		return
	}
	key := ref.key()
	del := state.Change{Delete: &key}
	if rv := r.URL.Query().Get("resourceVersion"); rv != "" {
		v, err := strconv.ParseUint(rv, 10, 64)
		if err != nil {
			writeError(w, api.NewError(api.ReasonBadRequest, "resourceVersion %q is not a number", rv))
			return
		}
		del.ExpectVersion = v
	}
	a.commit(w, r.Context(), http.StatusOK, del)
}

// commit proposes changes as one command and writes the first object of
// the result.
func (a *Agent) commit(w http.ResponseWriter, ctx context.Context, code int, changes ...state.Change) {
	res, err := a.commitForClient(ctx, changes...)
	if res != nil {
		setIndex(w, res.Index)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	if len(res.Objects) == 0 {
		writeError(w, errors.New("node: the write was applied but returned no object"))
		return
	}
	writeJSON(w, code, a.present(res.Objects[0]))
}

// watchObjects streams events as newline-delimited JSON. Without a
// resourceVersion it first sends the current objects as ADDED.
func (a *Agent) watchObjects(w http.ResponseWriter, r *http.Request, ref objectRef) {
	var from uint64
	if rv := r.URL.Query().Get("resourceVersion"); rv != "" {
		v, err := strconv.ParseUint(rv, 10, 64)
		if err != nil {
			writeError(w, api.NewError(api.ReasonBadRequest, "resourceVersion %q is not a number", rv))
			return
		}
		from = v
	}
	f, err := parseFilter(ref.res.Kind, r.URL.Query())
	if err != nil {
		writeError(w, err)
		return
	}
	var initial []api.Object
	if from == 0 {
		initial, from = a.store.List(ref.res.Kind, ref.ns)
		initial = f.apply(initial)
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	events, err := a.store.Watch(ctx, ref.res.Kind, from)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	setIndex(w, from)
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	flusher, _ := w.(http.Flusher)
	flush := func() {
		if flusher != nil {
			flusher.Flush()
		}
	}
	// seen holds the objects this watcher has been told match, so that an
	// object that stops matching the selector is reported DELETED and one
	// that starts matching ADDED, as Kubernetes does.
	seen := map[api.Key]bool{}
	for _, obj := range initial {
		seen[api.KeyOf(obj)] = true
		enc.Encode(api.WatchEvent{Type: "ADDED", Index: from, Object: mustJSON(a.present(obj))})
	}
	flush()
	keepalive := time.NewTicker(30 * time.Second)
	defer keepalive.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-keepalive.C:
			flush()
		case ev, ok := <-events:
			if !ok {
				return
			}
			if ev.Err != nil {
				enc.Encode(api.WatchEvent{Type: "ERROR", Object: mustJSON(api.AsStatus(ev.Err))})
				flush()
				return
			}
			if ref.ns != "" && ev.Object.GetObjectMeta().Namespace != ref.ns {
				continue
			}
			typ, ok := selectorEvent(seen, f, ev)
			if !ok {
				continue
			}
			if err := enc.Encode(api.WatchEvent{Type: typ, Index: ev.Index, Object: mustJSON(a.present(ev.Object))}); err != nil {
				return
			}
			if len(events) == 0 {
				flush()
			}
		}
	}
}

// selectorEvent turns a store event into what a selecting watcher sees, and
// whether it sees anything: objects entering the selection are ADDED, those
// leaving it DELETED.
func selectorEvent(seen map[api.Key]bool, f filter, ev consensus.Event) (string, bool) {
	k := api.KeyOf(ev.Object)
	was, match := seen[k], f.matches(ev.Object)
	switch {
	case ev.Type == consensus.EventDeleted:
		delete(seen, k)
		return string(consensus.EventDeleted), was || match
	case match:
		seen[k] = true
		if !was && ev.Type == consensus.EventModified && !f.empty() {
			return string(consensus.EventAdded), true
		}
		return string(ev.Type), true
	case was:
		delete(seen, k)
		return string(consensus.EventDeleted), true
	}
	return "", false
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(api.NewError(api.ReasonInternal, "encode: %v", err))
	}
	return b
}

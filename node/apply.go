package node

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"strings"

	"github.com/google/uuid"
	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/state"
)

// ApplyRequest carries the objects of one `shoal apply`.
type ApplyRequest struct {
	Items  []json.RawMessage `json:"items"`
	DryRun bool              `json:"dryRun,omitempty"`
}

// ApplyResult says what apply did to one object.
type ApplyResult struct {
	Kind      string `json:"kind"`
	Group     string `json:"group,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	// Action is created, configured or unchanged.
	Action string `json:"action"`
}

// handleApply creates or updates every object of the request in one Raft
// command: either all of them change or none does.
func (a *Agent) handleApply(w http.ResponseWriter, r *http.Request) {
	if !a.raft.IsLeader() {
		// Plan against the newest state: the leader's.
		a.proxyToLeader(w, r)
		return
	}
	body, err := readBody(r)
	if err != nil {
		writeError(w, err)
		return
	}
	var req ApplyRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, api.NewError(api.ReasonBadRequest, "apply: %v", err))
		return
	}
	// A controller may write an object (its status, say) between the plan
	// and the commit; the plan is then made again on the newer state.
	for attempt := 1; ; attempt++ {
		objs, problems := a.decodeApply(req.Items)
		if len(problems) > 0 {
			writeError(w, api.NewError(api.ReasonInvalid, "%s", strings.Join(problems, "\n")))
			return
		}
		changes, results, err := a.planApply(objs)
		if err != nil {
			writeError(w, err)
			return
		}
		if req.DryRun || len(changes) == 0 {
			writeJSON(w, http.StatusOK, results)
			return
		}
		res, err := a.commitForClient(r.Context(), changes...)
		if api.IsConflict(err) && attempt < 5 {
			continue
		}
		if err != nil {
			if api.ReasonOf(err) == api.ReasonConflict {
				err = api.NewError(api.ReasonConflict, "%s (other writers kept changing it while applying; run apply again)", err.Error())
			}
			writeError(w, err)
			return
		}
		setIndex(w, res.Index)
		writeJSON(w, http.StatusOK, results)
		return
	}
}

// decodeApply decodes, defaults and validates every item, collecting every
// problem so the user can fix them all at once.
func (a *Agent) decodeApply(items []json.RawMessage) ([]api.Object, []string) {
	var objs []api.Object
	var problems []string
	seen := map[api.Key]bool{}
	for i, raw := range items {
		obj, err := decodeApplyItem(raw)
		if err == nil {
			err = foldStringData(obj)
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("item %d: %v", i+1, err))
			continue
		}
		k := api.KeyOf(obj)
		if seen[k] {
			problems = append(problems, fmt.Sprintf("item %d: %s appears twice", i+1, describeKey(k)))
			continue
		}
		seen[k] = true
		objs = append(objs, obj)
	}
	return objs, problems
}

func decodeApplyItem(raw json.RawMessage) (api.Object, error) {
	var tm api.TypeMeta
	if err := json.Unmarshal(raw, &tm); err != nil {
		return nil, api.NewError(api.ReasonBadRequest, "%v", err)
	}
	res, ok := api.ResourceForKind(tm.Kind)
	if !ok {
		return nil, api.NewError(api.ReasonInvalid, "kind %q is not supported (supported kinds: %s)", tm.Kind, strings.Join(api.Kinds(), ", "))
	}
	if res.System {
		return nil, api.NewError(api.ReasonInvalid, "%s objects are managed by the cluster and cannot be applied", tm.Kind)
	}
	obj := res.New()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(obj); err != nil {
		return nil, api.NewError(api.ReasonInvalid, "%s: %v", strings.ToLower(tm.Kind), err)
	}
	*obj.GetTypeMeta() = api.TypeMeta{APIVersion: res.APIVersion(), Kind: res.Kind}
	meta := obj.GetObjectMeta()
	if res.Namespaced && meta.Namespace == "" {
		meta.Namespace = "default"
	}
	if !res.Namespaced && meta.Namespace != "" {
		return nil, api.NewError(api.ReasonInvalid, "%s %q is cluster-scoped: remove metadata.namespace", res.Kind, meta.Name)
	}
	if err := api.ValidateName(res.Kind, meta.Name); err != nil {
		return nil, err
	}
	if res.Namespaced {
		if err := api.ValidateNamespace(meta.Namespace); err != nil {
			return nil, err
		}
	}
	api.SetDefaults(obj)
	if err := api.Validate(obj); err != nil {
		return nil, err
	}
	return obj, nil
}

// planApply turns objects into puts against what is stored: new objects
// are created, changed ones replaced (keeping their status, and only if
// nobody changed them meanwhile), unchanged ones left alone. Namespaces go
// first so that objects in a namespace created by the same apply find it.
func (a *Agent) planApply(objs []api.Object) ([]state.Change, []ApplyResult, error) {
	sort.SliceStable(objs, func(i, j int) bool {
		return objs[i].GetTypeMeta().Kind == "Namespace" && objs[j].GetTypeMeta().Kind != "Namespace"
	})
	var changes []state.Change
	var results []ApplyResult
	checked := map[string]bool{}
	for _, obj := range objs {
		key := api.KeyOf(obj)
		res, _ := api.ResourceForKind(key.Kind)
		result := ApplyResult{Kind: key.Kind, Group: res.Group, Namespace: key.Namespace, Name: key.Name, Action: "created"}
		mode := state.PutCreate
		cur, err := a.store.Get(key)
		if err != nil {
			prepareCreate(obj)
		} else {
			if err := checkManifestVersion(obj, cur); err != nil {
				return nil, nil, err
			}
			obj.GetObjectMeta().UID = cur.GetObjectMeta().UID
			if j, ok := obj.(*api.Job); ok {
				api.GenerateJobSelector(j) // as it was generated on create
			}
			if p, ok := obj.(*api.Pod); ok && p.Spec.NodeName == "" {
				p.Spec.NodeName = cur.(*api.Pod).Spec.NodeName // the scheduler's binding stays
			}
			api.KeepSystemAnnotations(cur, obj)
			if unchanged(a.present(cur), obj) {
				result.Action = "unchanged"
				results = append(results, result)
				continue
			}
			result.Action = "configured"
			mode = state.PutUpdate
			keepSystemFields(cur, obj) // including the version: the update is a compare-and-set
		}
		if err := a.sealIn(obj); err != nil {
			return nil, nil, err
		}
		changes = append(changes, state.Change{Put: obj, Mode: mode})
		if res.Namespaced && !checked[key.Namespace] {
			checked[key.Namespace] = true
			changes = append(changes, namespaceCheck(res, key.Namespace)...)
		}
		results = append(results, result)
	}
	return changes, results, nil
}

// prepareCreate gives a new object what the server sets on create: a uid
// and, for a Job, the selector derived from it.
func prepareCreate(obj api.Object) {
	m := obj.GetObjectMeta()
	m.ResourceVersion = "" // a version in a manifest means nothing for a new object
	if m.UID == "" {
		m.UID = uuid.NewString()
	}
	if j, ok := obj.(*api.Job); ok {
		api.GenerateJobSelector(j)
	}
}

// checkManifestVersion refuses a manifest that carries a resourceVersion
// other than the stored object's: it was read before the object last
// changed, and applying it would undo that change.
func checkManifestVersion(obj, cur api.Object) error {
	rv, have := obj.GetObjectMeta().ResourceVersion, cur.GetObjectMeta().ResourceVersion
	if rv == "" || rv == have {
		return nil
	}
	return api.NewError(api.ReasonConflict,
		"%s has been changed: the manifest has metadata.resourceVersion %s but it is %s; re-read the object (or remove resourceVersion from the manifest) and apply again",
		describeKey(api.KeyOf(obj)), rv, have)
}

// keepSystemFields carries over what the system owns: status, uid,
// creation time and, unless the manifest pins one, the version, so that the
// update is a compare-and-set against what the plan saw.
func keepSystemFields(cur, obj api.Object) {
	m, c := obj.GetObjectMeta(), cur.GetObjectMeta()
	m.UID, m.CreationTimestamp, m.ResourceVersion = c.UID, c.CreationTimestamp, c.ResourceVersion
	api.CopyStatus(cur, obj)
}

// unchanged reports whether applying obj over cur would change nothing a
// user controls.
func unchanged(cur, obj api.Object) bool {
	strip := func(o api.Object) map[string]any {
		b, _ := json.Marshal(o)
		var m map[string]any
		json.Unmarshal(b, &m)
		delete(m, "status")
		if md, ok := m["metadata"].(map[string]any); ok {
			for _, f := range []string{"uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp"} {
				delete(md, f)
			}
		}
		return m
	}
	return reflect.DeepEqual(strip(cur), strip(obj))
}

func describeKey(k api.Key) string {
	if k.Namespace == "" {
		return strings.ToLower(k.Kind) + " " + k.Name
	}
	return strings.ToLower(k.Kind) + " " + k.Namespace + "/" + k.Name
}

package placement

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"strconv"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// requeueAt keeps the earliest positive wait.
func requeueAt(cur *time.Duration, d time.Duration) {
	if d > 0 && (*cur == 0 || d < *cur) {
		*cur = d
	}
}

// controllerRef returns the owner reference that marks obj's controller.
func controllerRef(obj api.Object) *api.OwnerReference {
	for i, r := range obj.GetObjectMeta().OwnerReferences {
		if r.Controller != nil && *r.Controller {
			return &obj.GetObjectMeta().OwnerReferences[i]
		}
	}
	return nil
}

// ownerRef is the controller reference an owner puts on what it creates.
func ownerRef(owner api.Object) api.OwnerReference {
	t, m := owner.GetTypeMeta(), owner.GetObjectMeta()
	yes := true
	return api.OwnerReference{APIVersion: t.APIVersion, Kind: t.Kind, Name: m.Name, UID: m.UID, Controller: &yes, BlockOwnerDeletion: &yes}
}

// owned returns the objects of kind whose controller is the object with
// ownerUID, from the state's owner index.
func owned[T api.Object](state Reader, kind, ownerUID string) []T {
	var out []T
	for _, o := range state.ListOwnedBy(kind, ownerUID) {
		if r := controllerRef(o); r != nil && r.UID == ownerUID {
			out = append(out, o.(T))
		}
	}
	return out
}

// podActive: the pod has not finished and is not being deleted.
func podActive(p *api.Pod) bool {
	return p.Status.Phase != api.PodSucceeded && p.Status.Phase != api.PodFailed && p.DeletionTimestamp == nil
}

// podReadySince returns when the pod became Ready, or false if it is not.
func podReadySince(p *api.Pod) (time.Time, bool) {
	for _, c := range p.Status.Conditions {
		if c.Type == api.PodReady && c.Status == api.ConditionTrue {
			if c.LastTransitionTime != nil {
				return c.LastTransitionTime.Time, true
			}
			return time.Time{}, true
		}
	}
	return time.Time{}, false
}

func podReady(p *api.Pod) bool { _, ok := podReadySince(p); return ok }

// podAvailable: Ready for at least minReady. When it is Ready but not for
// long enough, wait says how long until it will be.
func podAvailable(p *api.Pod, minReady time.Duration, now time.Time) (ok bool, wait time.Duration) {
	since, ready := podReadySince(p)
	if !ready {
		return false, 0
	}
	if minReady <= 0 || since.IsZero() {
		return true, 0
	}
	if d := since.Add(minReady).Sub(now); d > 0 {
		return false, d
	}
	return true, 0
}

// newPod makes a pod from an owner's template.
func newPod(owner api.Object, tmpl *api.PodTemplateSpec, name string) *api.Pod {
	p := &api.Pod{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Pod"}}
	t := deepCopy(*tmpl)
	p.ObjectMeta = api.ObjectMeta{
		Name: name, Namespace: owner.GetObjectMeta().Namespace,
		Labels: t.Labels, Annotations: t.Annotations,
		OwnerReferences: []api.OwnerReference{ownerRef(owner)},
	}
	p.Spec = t.Spec
	api.SetDefaults(p)
	return p
}

// nameSuffix is five characters derived from seed, in Kubernetes' alphabet
// for generated names (no vowels, no look-alikes).
func nameSuffix(seed string) string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	sum := sha256.Sum256([]byte(seed))
	v := binary.BigEndian.Uint64(sum[:8])
	out := make([]byte, 5)
	for i := range out {
		out[i] = alphabet[v%uint64(len(alphabet))]
		v /= uint64(len(alphabet))
	}
	return string(out)
}

// freeName returns base-<suffix> for the first seed suffix not taken.
func freeName(base, seed string, taken func(name string) bool) string {
	for i := 0; ; i++ {
		name := base + "-" + nameSuffix(seed+"/"+strconv.Itoa(i))
		if !taken(name) {
			return name
		}
	}
}

// replicas reads an optional replica count (default 1).
func replicas(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

// exists reports whether key is in the state.
func exists(state Reader, key api.Key) bool {
	_, err := state.Get(key)
	return err == nil
}

// deepCopy copies a value through its JSON encoding, as api.Copy does for
// whole objects.
func deepCopy[T any](v T) T {
	var out T
	b, err := json.Marshal(v)
	if err != nil {
		panic("placement: copy: " + err.Error())
	}
	if err := json.Unmarshal(b, &out); err != nil {
		panic("placement: copy: " + err.Error())
	}
	return out
}

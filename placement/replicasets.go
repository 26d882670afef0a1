package placement

import (
	"context"
	"encoding/json"
	"sort"
	"strconv"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/state"
)

// A pass creates at most maxPodCreatesPerPass pods for one ReplicaSet, in
// commands of at most podsPerCommand, so each command stays small; the
// pass asks to come back at once for the rest.
const (
	maxPodCreatesPerPass = 5000
	podsPerCommand       = 500
)

// ReplicaSetController keeps each ReplicaSet's number of active pods at its
// replicas and its status current.
type ReplicaSetController struct {
	State  Reader
	Writer Writer
}

// Pass commits each ReplicaSet's plan in its own command: its pods and its
// status (a compare-and-set) together.
func (c *ReplicaSetController) Pass(ctx context.Context, now time.Time) (time.Duration, error) {
	plans, requeue := PlanReplicaSets(now, c.State)
	for _, changes := range plans {
		if err := c.Writer.Commit(ctx, changes); err != nil && !state.Stale(err) {
			return requeue, err
		}
	}
	return requeue, nil
}

// PlanReplicaSets plans every ReplicaSet: the changes of each as one
// command. It is pure over the state.
func PlanReplicaSets(now time.Time, state Reader) ([][]Change, time.Duration) {
	objs, _ := state.List("ReplicaSet", "")
	var plans [][]Change
	var requeue time.Duration
	for _, o := range objs {
		rs := o.(*api.ReplicaSet)
		changes, wait := planReplicaSet(now, state, rs, owned[*api.Pod](state, "Pod", rs.UID))
		requeueAt(&requeue, wait)
		// Large creations go in several commands; the status rides in the
		// last, so it is written once the pods it counts are.
		for len(changes) > podsPerCommand {
			plans = append(plans, changes[:podsPerCommand])
			changes = changes[podsPerCommand:]
		}
		if len(changes) > 0 {
			plans = append(plans, changes)
		}
	}
	return plans, requeue
}

func planReplicaSet(now time.Time, state Reader, rs *api.ReplicaSet, owned []*api.Pod) ([]Change, time.Duration) {
	var changes []Change
	var requeue time.Duration
	var active []*api.Pod
	for _, p := range owned {
		if podActive(p) {
			active = append(active, p)
		} else if p.DeletionTimestamp == nil {
			// Finished pods of a ReplicaSet are replaced; the old ones go.
			k := api.KeyOf(p)
			changes = append(changes, Change{Delete: &k})
		}
	}
	want := int(replicas(rs.Spec.Replicas))
	switch diff := want - len(active); {
	case diff > 0:
		taken := map[string]bool{}
		for _, p := range owned {
			taken[p.Name] = true
		}
		isTaken := func(name string) bool {
			return taken[name] || exists(state, api.Key{Kind: "Pod", Namespace: rs.Namespace, Name: name})
		}
		n := min(diff, maxPodCreatesPerPass)
		if n < diff {
			requeueAt(&requeue, time.Millisecond)
		}
		for i := range n {
			name := freeName(rs.Name, rs.UID+"/"+rs.ResourceVersion+"/"+strconv.Itoa(i), isTaken)
			taken[name] = true
			changes = append(changes, Change{Put: newPod(rs, &rs.Spec.Template, name)})
		}
	case diff < 0:
		sortForScaleDown(active, now)
		for _, p := range active[:-diff] {
			k := api.KeyOf(p)
			changes = append(changes, Change{Delete: &k})
		}
		active = active[-diff:]
	}

	st := api.ReplicaSetStatus{Replicas: int32(len(active)), ObservedGeneration: rs.Generation}
	minReady := time.Duration(rs.Spec.MinReadySeconds) * time.Second
	for _, p := range active {
		if podReady(p) {
			st.ReadyReplicas++
		}
		ok, wait := podAvailable(p, minReady, now)
		if ok {
			st.AvailableReplicas++
		}
		requeueAt(&requeue, wait)
		if api.SelectorFromSet(rs.Spec.Template.Labels).Matches(p.Labels) {
			st.FullyLabeledReplicas++
		}
	}
	st.Conditions = rs.Status.Conditions
	if !sameJSON(st, rs.Status) {
		next := api.Copy(rs)
		next.Status = st
		changes = append(changes, Change{Put: next})
	}
	return changes, requeue
}

// sortForScaleDown orders pods by how cheap they are to lose, as
// Kubernetes does: unbound before bound, pending before running, not ready
// before ready, ready for less time before longer, newer before older.
func sortForScaleDown(pods []*api.Pod, now time.Time) {
	rank := func(p *api.Pod) (int, int, int, int64, int64) {
		bound, running, ready := 1, 1, 1
		if p.Spec.NodeName == "" {
			bound = 0
		}
		if p.Status.Phase != api.PodRunning {
			running = 0
		}
		since, isReady := podReadySince(p)
		if !isReady {
			ready = 0
		}
		created := int64(0)
		if p.CreationTimestamp != nil {
			created = p.CreationTimestamp.Unix()
		}
		return bound, running, ready, -now.Sub(since).Milliseconds(), -created
	}
	sort.SliceStable(pods, func(i, j int) bool {
		a1, a2, a3, a4, a5 := rank(pods[i])
		b1, b2, b3, b4, b5 := rank(pods[j])
		switch {
		case a1 != b1:
			return a1 < b1
		case a2 != b2:
			return a2 < b2
		case a3 != b3:
			return a3 < b3
		case a4 != b4:
			return a4 < b4
		case a5 != b5:
			return a5 < b5
		}
		return pods[i].Name < pods[j].Name
	})
}

// sameJSON compares two values by their encodings.
func sameJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

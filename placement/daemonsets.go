package placement

import (
	"bytes"
	"context"
	"encoding/json"
	"hash/fnv"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/state"
)

// LabelControllerRevisionHash carries the hash of the DaemonSet pod
// template a pod was made from, as Kubernetes names it.
const LabelControllerRevisionHash = "controller-revision-hash"

// daemonTolerations are the tolerations Kubernetes adds to every DaemonSet
// pod: it stays through node trouble, and runs on cordoned nodes.
var daemonTolerations = []api.Toleration{
	{Key: "node.kubernetes.io/not-ready", Operator: api.TolerationOpExists, Effect: api.TaintEffectNoExecute},
	{Key: "node.kubernetes.io/unreachable", Operator: api.TolerationOpExists, Effect: api.TaintEffectNoExecute},
	{Key: "node.kubernetes.io/disk-pressure", Operator: api.TolerationOpExists, Effect: api.TaintEffectNoSchedule},
	{Key: "node.kubernetes.io/memory-pressure", Operator: api.TolerationOpExists, Effect: api.TaintEffectNoSchedule},
	{Key: "node.kubernetes.io/pid-pressure", Operator: api.TolerationOpExists, Effect: api.TaintEffectNoSchedule},
	{Key: TaintUnschedulable, Operator: api.TolerationOpExists, Effect: api.TaintEffectNoSchedule},
}

// DaemonSetController runs one pod of each DaemonSet on every eligible
// node. Run it with a Loop, triggered by changes to DaemonSets, Nodes and
// Pods.
type DaemonSetController struct {
	State  Reader
	Writer Writer
}

// Pass plans and commits each DaemonSet in turn, its pods and its status in
// one command, so a DaemonSet that changed meanwhile (a conflict) only
// delays itself; later DaemonSets are planned with what earlier ones
// placed. It asks to come back when a pod will become available.
func (c *DaemonSetController) Pass(ctx context.Context, now time.Time) (time.Duration, error) {
	w := newDaemonWorld(c.State)
	var requeue time.Duration
	for _, ds := range w.daemonSets {
		changes, wait := w.plan(now, ds)
		requeueAt(&requeue, wait)
		if len(changes) == 0 {
			continue
		}
		if err := c.Writer.Commit(ctx, changes); err != nil {
			if state.Stale(err) {
				requeueAt(&requeue, time.Second)
				continue
			}
			return requeue, err
		}
		w.apply(changes)
	}
	return requeue, nil
}

// PlanDaemonSets computes the writes that converge every DaemonSet, and how
// soon to look again (0: only on a change). Each DaemonSet is planned in
// turn (oldest first), seeing the pods the ones before it placed. It reads
// state and nothing else.
//
// A node is eligible when the pod template fits on it as the scheduler
// judges (node selector and affinity, taints, host ports, resources), with
// the tolerations every DaemonSet pod gets, and as if the node were Ready:
// NotReady and cordoned nodes get a pod too. The pods already on a node
// that belong to the DaemonSet are left out of the fit, so they never
// crowd out their own replacement. A pod keeps running on a node that
// still matches the node selector and affinity and whose NoExecute taints
// it tolerates, even if it would no longer be placed there; otherwise, or
// when its node is gone, it is deleted. Pods that finished are deleted and
// replaced. Of several pods on one node the oldest is kept (with maxSurge,
// the oldest of each template).
//
// New pods are named <daemonset>-<suffix>, bound to their node
// (spec.nodeName set, PodScheduled) without the scheduler, controlled by the
// DaemonSet, and labelled with the template's hash. When the template
// changes, RollingUpdate replaces old pods: at once those that are not
// available, then available ones while fewer than maxUnavailable of the
// DaemonSet's pods are unavailable (a replacement counts until it has been
// Ready for minReadySeconds); with maxSurge the new pod starts beside the
// old, which goes when the new one is available. Nodes that are not Ready
// sit a rollout out until they are back. OnDelete replaces only pods that
// were deleted. The status is written, as a compare-and-set, when it
// changed and whenever pods are created, so that they are created only for
// the DaemonSet as it was read.
func PlanDaemonSets(now time.Time, state Reader) ([]Change, time.Duration) {
	w := newDaemonWorld(state)
	var all []Change
	var requeue time.Duration
	for _, ds := range w.daemonSets {
		changes, wait := w.plan(now, ds)
		requeueAt(&requeue, wait)
		w.apply(changes)
		all = append(all, changes...)
	}
	return all, requeue
}

// daemonWorld is what DaemonSet planning reads, kept up to date with what
// earlier plans of the same pass placed.
type daemonWorld struct {
	state      Reader
	daemonSets []*api.DaemonSet
	nodes      []*api.Node           // by name
	onNode     map[string][]*api.Pod // active pods bound to each node, any owner
	owned      map[string][]*api.Pod // pods by their controller's UID
	taken      map[api.Key]bool      // pod names used in this pass
}

func newDaemonWorld(state Reader) *daemonWorld {
	w := &daemonWorld{state: state, onNode: map[string][]*api.Pod{}, owned: map[string][]*api.Pod{}, taken: map[api.Key]bool{}}
	objs, _ := state.List("DaemonSet", "")
	for _, o := range objs {
		w.daemonSets = append(w.daemonSets, o.(*api.DaemonSet))
	}
	if len(w.daemonSets) == 0 {
		return w // nothing to plan: no need to read every pod
	}
	sort.Slice(w.daemonSets, func(i, j int) bool {
		a, b := w.daemonSets[i], w.daemonSets[j]
		if ta, tb := objectCreated(a), objectCreated(b); ta != tb {
			return ta < tb
		}
		return api.KeyOf(a).String() < api.KeyOf(b).String()
	})
	nodes, _ := state.List("Node", "")
	for _, o := range nodes {
		w.nodes = append(w.nodes, o.(*api.Node))
	}
	sort.Slice(w.nodes, func(i, j int) bool { return w.nodes[i].Name < w.nodes[j].Name })
	pods, _ := state.List("Pod", "")
	for _, o := range pods {
		w.add(o.(*api.Pod))
	}
	return w
}

func objectCreated(o api.Object) int64 {
	if t := o.GetObjectMeta().CreationTimestamp; t != nil {
		return t.UnixNano()
	}
	return 0
}

func (w *daemonWorld) add(p *api.Pod) {
	if p.Spec.NodeName != "" && !terminated(p) {
		w.onNode[p.Spec.NodeName] = append(w.onNode[p.Spec.NodeName], p)
	}
	if r := controllerRef(p); r != nil {
		w.owned[r.UID] = append(w.owned[r.UID], p)
	}
}

func dropPod(pods []*api.Pod, k api.Key) []*api.Pod {
	out := pods[:0:0]
	for _, p := range pods {
		if podKey(p) != k {
			out = append(out, p)
		}
	}
	return out
}

// apply records committed changes, so later plans of the pass see them.
func (w *daemonWorld) apply(changes []Change) {
	for _, c := range changes {
		switch {
		case c.Delete != nil && c.Delete.Kind == "Pod":
			for node, pods := range w.onNode {
				w.onNode[node] = dropPod(pods, *c.Delete)
			}
			for uid, pods := range w.owned {
				w.owned[uid] = dropPod(pods, *c.Delete)
			}
		case c.Put != nil && c.Put.GetTypeMeta().Kind == "Pod":
			w.taken[api.KeyOf(c.Put)] = true
			w.add(c.Put.(*api.Pod))
		}
	}
}

// daemonSlot is one node as a DaemonSet's plan sees it.
type daemonSlot struct {
	node      *api.Node
	shouldRun bool
	pods      []*api.Pod // the DaemonSet's pods that stay, oldest first; new ones last
}

// daemonPlan is the working state of one DaemonSet's plan.
type daemonPlan struct {
	w        *daemonWorld
	ds       *api.DaemonSet
	now      time.Time
	hash     string
	tmpl     *api.Pod // the pod the template makes, on no node yet
	minReady time.Duration
	changes  []Change
	deleted  map[api.Key]bool
	created  bool
	requeue  time.Duration
}

func (w *daemonWorld) plan(now time.Time, ds *api.DaemonSet) ([]Change, time.Duration) {
	if sel, err := ds.Spec.Selector.AsSelector(); err != nil || ds.Spec.Selector == nil || sel.Empty() {
		return nil, 0 // Validate rejects these; never select every pod
	}
	p := &daemonPlan{w: w, ds: ds, now: now, hash: daemonSetHash(&ds.Spec.Template),
		minReady: time.Duration(ds.Spec.MinReadySeconds) * time.Second, deleted: map[api.Key]bool{}}
	p.tmpl = daemonPodTemplate(ds, p.hash)
	slots := p.manage()
	if ds.Spec.UpdateStrategy.Type != api.OnDeleteDaemonSetStrategyType {
		desired := 0
		for _, s := range slots {
			if s.shouldRun {
				desired++
			}
		}
		surge, unavailable := daemonRollingBounds(ds, desired)
		if surge > 0 {
			p.surgeUpdate(slots, surge, desired)
		} else {
			p.rollingUpdate(slots, unavailable)
		}
	}
	p.status(slots)
	return p.changes, p.requeue
}

// manage makes each node hold what it should: pods deleted where they may
// not stay, finished pods and extras deleted, a new pod where one should
// run and none is.
func (p *daemonPlan) manage() []*daemonSlot {
	byNode := map[string][]*api.Pod{}
	for _, pod := range p.w.owned[p.ds.UID] {
		if pod.DeletionTimestamp == nil {
			byNode[pod.Spec.NodeName] = append(byNode[pod.Spec.NodeName], pod)
		}
	}
	surge := false
	if p.ds.Spec.UpdateStrategy.Type != api.OnDeleteDaemonSetStrategyType {
		n, _ := daemonRollingBounds(p.ds, len(p.w.nodes))
		surge = n > 0
	}
	var slots []*daemonSlot
	for _, n := range p.w.nodes {
		s := &daemonSlot{node: n, shouldRun: p.fits(n)}
		stay := s.shouldRun || daemonMayStay(n, p.tmpl)
		var running []*api.Pod
		for _, pod := range byNode[n.Name] {
			if terminated(pod) || !stay {
				p.delete(pod)
				continue
			}
			running = append(running, pod)
		}
		delete(byNode, n.Name)
		sortOldestFirst(running)
		s.pods = p.dedupe(running, surge)
		if s.shouldRun && len(s.pods) == 0 {
			p.create(s)
		}
		slots = append(slots, s)
	}
	// Pods on nodes that are gone, or on no node.
	rest := make([]string, 0, len(byNode))
	for name := range byNode {
		rest = append(rest, name)
	}
	sort.Strings(rest)
	for _, name := range rest {
		for _, pod := range byNode[name] {
			p.delete(pod)
		}
	}
	return slots
}

// dedupe keeps the oldest pod, or with surge the oldest of each template,
// and deletes the rest.
func (p *daemonPlan) dedupe(running []*api.Pod, surge bool) []*api.Pod {
	var keep []*api.Pod
	var haveNew, haveOld bool
	for _, pod := range running {
		switch {
		case !surge && len(keep) == 0:
		case surge && p.updated(pod) && !haveNew:
		case surge && !p.updated(pod) && !haveOld:
		default:
			p.delete(pod)
			continue
		}
		if p.updated(pod) {
			haveNew = true
		} else {
			haveOld = true
		}
		keep = append(keep, pod)
	}
	return keep
}

// rollingUpdate replaces old pods: unavailable ones at once, available ones
// while fewer than maxUnavailable of the DaemonSet's pods are unavailable,
// counting old and new pods alike (Kubernetes leaves old unavailable pods
// out of that count, and so may end a step with more unavailable).
// Nodes that are not Ready sit the rollout out: a pod there can become
// available only when the node comes back, so counting it would stall
// every other node; their pods are replaced once they are back.
func (p *daemonPlan) rollingUpdate(slots []*daemonSlot, maxUnavailable int) {
	unavailable := 0
	var replace, candidates []*daemonSlot
	for _, s := range slots {
		if len(s.pods) == 0 || !daemonNodeReady(s.node) {
			continue
		}
		pod := s.pods[0]
		switch {
		case p.updated(pod):
			if !p.available(pod) {
				unavailable++
			}
		case !p.available(pod):
			unavailable++
			replace = append(replace, s)
		default:
			candidates = append(candidates, s)
		}
	}
	n := min(max(maxUnavailable-unavailable, 0), len(candidates))
	for _, s := range append(replace, candidates[:n]...) {
		p.delete(s.pods[0])
		s.pods = nil
		if s.shouldRun {
			p.create(s)
		}
	}
}

// surgeUpdate starts a new pod beside each old one: at once where the old
// one is not available, else while fewer than maxSurge nodes wait for a new
// pod to become available. An old pod goes when the new one beside it is
// available. Old pods on nodes that no longer want one go only while more
// pods are available than desired, so the DaemonSet never drops below.
// Nodes that are not Ready sit the rollout out, as with maxUnavailable.
func (p *daemonPlan) surgeUpdate(slots []*daemonSlot, maxSurge, desired int) {
	surging, available := 0, 0
	var replace, candidates, leaving []*daemonSlot
	for _, s := range slots {
		if len(s.pods) == 0 || !daemonNodeReady(s.node) {
			continue
		}
		var newPod, oldPod *api.Pod
		for _, pod := range s.pods {
			if p.updated(pod) {
				newPod = pod
			} else {
				oldPod = pod
			}
		}
		if oldPod != nil && p.available(oldPod) || oldPod == nil && p.available(newPod) {
			available++
		}
		switch {
		case oldPod == nil:
		case newPod == nil && !p.available(oldPod):
			if !s.shouldRun {
				p.delete(oldPod)
				s.pods = nil
				continue
			}
			replace = append(replace, s)
		case newPod == nil:
			if !s.shouldRun {
				leaving = append(leaving, s)
				continue
			}
			candidates = append(candidates, s)
		case !p.available(newPod):
			surging++
		default:
			p.delete(oldPod)
			s.pods = []*api.Pod{newPod}
		}
	}
	for _, s := range leaving[:min(max(available-desired, 0), len(leaving))] {
		p.delete(s.pods[0])
		s.pods = nil
	}
	n := min(max(maxSurge-surging, 0), len(candidates))
	for _, s := range append(replace, candidates[:n]...) {
		p.create(s)
	}
}

// status writes the DaemonSet's status if it changed, counting per node
// the oldest pod that stays, after this plan. A plan that creates pods
// writes it in any case: the write is a compare-and-set, so the pods are
// not created if the DaemonSet was deleted or changed meanwhile.
func (p *daemonPlan) status(slots []*daemonSlot) {
	st := p.ds.Status
	st.DesiredNumberScheduled, st.CurrentNumberScheduled, st.NumberMisscheduled = 0, 0, 0
	st.NumberReady, st.NumberAvailable, st.UpdatedNumberScheduled, st.NumberUnavailable = 0, 0, 0, 0
	st.ObservedGeneration = p.ds.Generation
	for _, s := range slots {
		if s.shouldRun {
			st.DesiredNumberScheduled++
		}
		if len(s.pods) == 0 {
			continue
		}
		if !s.shouldRun {
			st.NumberMisscheduled++
			continue
		}
		st.CurrentNumberScheduled++
		pod := s.pods[0]
		if podReady(pod) {
			st.NumberReady++
			if p.available(pod) {
				st.NumberAvailable++
			}
		}
		if p.updated(pod) {
			st.UpdatedNumberScheduled++
		}
	}
	st.NumberUnavailable = max(st.DesiredNumberScheduled-st.NumberAvailable, 0)
	old, _ := json.Marshal(p.ds.Status)
	next, _ := json.Marshal(st)
	if bytes.Equal(old, next) && !p.created {
		return
	}
	ds := api.Copy(p.ds) // keeps resourceVersion: a compare-and-set
	ds.Status = st
	p.changes = append(p.changes, Change{Put: ds})
}

func (p *daemonPlan) updated(pod *api.Pod) bool {
	return pod.Labels[LabelControllerRevisionHash] == p.hash
}

// available reports whether pod has been Ready for minReadySeconds, and
// asks to come back when a Ready pod will be.
func (p *daemonPlan) available(pod *api.Pod) bool {
	ok, wait := podAvailable(pod, p.minReady, p.now)
	requeueAt(&p.requeue, wait)
	return ok
}

func (p *daemonPlan) delete(pod *api.Pod) {
	k := podKey(pod)
	if p.deleted[k] {
		return
	}
	p.deleted[k] = true
	p.changes = append(p.changes, Change{Delete: &k})
}

// create adds a new pod bound to the slot's node.
func (p *daemonPlan) create(s *daemonSlot) {
	pod := api.Copy(p.tmpl)
	seed := p.ds.UID + "/" + s.node.Name + "/" + p.hash + "/" + strconv.FormatInt(p.now.UnixNano(), 10)
	pod.Name = freeName(daemonPodBase(p.ds.Name), seed, func(name string) bool {
		k := api.Key{Kind: "Pod", Namespace: pod.Namespace, Name: name}
		return p.w.taken[k] || exists(p.w.state, k)
	})
	pod.Spec.NodeName = s.node.Name
	setScheduled(pod, api.ConditionTrue, "", "", p.now)
	p.w.taken[podKey(pod)] = true
	p.created = true
	p.changes = append(p.changes, Change{Put: pod})
	s.pods = append(s.pods, pod)
}

// daemonPodBase shortens a DaemonSet name so its pods' names, with the
// suffix, stay within 63 characters, as Kubernetes' generated names do.
func daemonPodBase(name string) string {
	if len(name) > 57 {
		name = strings.TrimRight(name[:57], "-.")
	}
	return name
}

// fits reports whether the DaemonSet should run a pod on n: whether its
// pod fits there, as if n were Ready, next to the pods of other owners.
func (p *daemonPlan) fits(n *api.Node) bool {
	view := *n
	view.Status.Conditions = []api.NodeCondition{{Type: "Ready", Status: string(api.ConditionTrue)}}
	snap := Snapshot{Nodes: []*api.Node{&view}}
	for _, pod := range p.w.onNode[n.Name] {
		if r := controllerRef(pod); r != nil && r.UID == p.ds.UID {
			continue
		}
		snap.Pods = append(snap.Pods, pod)
	}
	return Fits(snap, p.tmpl, n.Name) == nil
}

func daemonNodeReady(n *api.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == "Ready" {
			return c.Status == string(api.ConditionTrue)
		}
	}
	return false
}

// daemonMayStay reports whether a pod of the template may keep running on
// n: n still matches its node selector and affinity, and it tolerates n's
// NoExecute taints.
func daemonMayStay(n *api.Node, pod *api.Pod) bool {
	if !matchesNodeSelector(pod, &nodeState{node: n, name: n.Name, labels: n.Labels}) {
		return false
	}
	for _, t := range n.Spec.Taints {
		if t.Effect == api.TaintEffectNoExecute && !tolerates(pod, t) {
			return false
		}
	}
	return true
}

// daemonPodTemplate is the pod a DaemonSet's template makes: its owner
// reference, the template hash label and the DaemonSet tolerations, with
// no name and no node yet.
func daemonPodTemplate(ds *api.DaemonSet, hash string) *api.Pod {
	pod := newPod(ds, &ds.Spec.Template, "")
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[LabelControllerRevisionHash] = hash
	for _, t := range daemonTolerations {
		i := 0
		for ; i < len(pod.Spec.Tolerations); i++ {
			o := pod.Spec.Tolerations[i]
			if o.Key == t.Key && o.Operator == t.Operator && o.Value == t.Value && o.Effect == t.Effect {
				break
			}
		}
		if i < len(pod.Spec.Tolerations) {
			pod.Spec.Tolerations[i] = t
		} else {
			pod.Spec.Tolerations = append(pod.Spec.Tolerations, t)
		}
	}
	return pod
}

// daemonRollingBounds resolves maxSurge and maxUnavailable against the
// number of nodes that should run a pod, rounding up; when both come to 0,
// one pod may be unavailable, as in Kubernetes.
func daemonRollingBounds(ds *api.DaemonSet, desired int) (surge, unavailable int) {
	unavailable = 1
	if ru := ds.Spec.UpdateStrategy.RollingUpdate; ru != nil {
		if ru.MaxSurge != nil {
			surge, _ = ru.MaxSurge.ScaledValue(desired, true)
		}
		if ru.MaxUnavailable != nil {
			unavailable, _ = ru.MaxUnavailable.ScaledValue(desired, true)
		}
	}
	if surge <= 0 && unavailable <= 0 {
		unavailable = 1
	}
	return max(surge, 0), max(unavailable, 0)
}

// daemonSetHash names a pod template, in the alphabet of generated names.
func daemonSetHash(t *api.PodTemplateSpec) string {
	data, _ := json.Marshal(t)
	h := fnv.New32a()
	h.Write(data)
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	digits := []byte(strconv.FormatUint(uint64(h.Sum32()), 10))
	for i, d := range digits {
		digits[i] = alphabet[int(d)%len(alphabet)]
	}
	return string(digits)
}

// sortOldestFirst orders pods by creation, then name.
func sortOldestFirst(pods []*api.Pod) {
	sort.SliceStable(pods, func(i, j int) bool {
		if ti, tj := createdAt(pods[i]), createdAt(pods[j]); ti != tj {
			return ti < tj
		}
		return pods[i].Name < pods[j].Name
	})
}

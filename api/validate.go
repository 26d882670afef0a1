package api

import (
	"fmt"
	"net"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Validate checks obj as Kubernetes validates it, for the subset shoal
// supports. Call SetDefaults first: Validate expects defaulted objects, as
// the Kubernetes API server does. It returns nil, or one *Status with
// ReasonInvalid whose message lists every problem, one per line, each
// naming the object and the field and saying what to do:
//
//	deployment web: spec.selector: Required value: apps/v1 Deployments need a selector matching spec.template.metadata.labels
//	pod needs-volume: spec.volumes[0].persistentVolumeClaim: not supported yet (use hostPath or emptyDir)
//
// Field paths are written as Kubernetes writes them: map keys in brackets
// (spec.template.spec.containers[0].resources.limits[cpu]). System kinds
// (credentials, join tokens, keys) are checked by their own endpoints, and
// Validate accepts them. Validate does not change obj and is safe to call
// concurrently.
func Validate(obj Object) error {
	kind := kindOf(obj)
	if r, ok := ResourceForKind(kind); ok && r.System {
		return nil
	}
	problems := ValidationProblems(obj)
	if len(problems) == 0 {
		return nil
	}
	label := lowerKind(kind)
	if name := obj.GetObjectMeta().Name; name != "" {
		label += " " + name
	}
	for i, p := range problems {
		problems[i] = label + ": " + p
	}
	return NewError(ReasonInvalid, "%s", strings.Join(problems, "\n"))
}

// ValidationProblems returns Validate's problems as "path: message" lines,
// without the object prefix, for callers that add their own (a decoder
// naming the file and document).
func ValidationProblems(obj Object) []string {
	var e fieldErrors
	kind := kindOf(obj)
	res, known := ResourceForKind(kind)
	if tm := obj.GetTypeMeta(); known && tm.APIVersion != "" && tm.APIVersion != res.APIVersion() {
		e.unsupported("apiVersion", tm.APIVersion, res.APIVersion())
	}
	validateObjectMeta(&e, obj.GetObjectMeta(), kind, !known || res.Namespaced)
	switch o := obj.(type) {
	case *Namespace:
	case *ConfigMap:
		validateConfigMap(&e, o)
	case *Secret:
		validateSecret(&e, o)
	case *Node:
		validateNode(&e, o)
	case *Event:
		validateEvent(&e, o)
	case *Pod:
		validatePodSpec(&e, "spec", &o.Spec, podRestartPolicies, "")
	case *Service:
		validateService(&e, o)
	case *Endpoints:
		validateEndpoints(&e, o)
	case *Deployment:
		validateDeployment(&e, o)
	case *ReplicaSet:
		validateReplicaSet(&e, o)
	case *DaemonSet:
		validateDaemonSet(&e, o)
	case *Job:
		validateJobSpec(&e, "spec", &o.Spec, o.UID)
	case *CronJob:
		validateCronJob(&e, o)
	case *HorizontalPodAutoscaler:
		validateHPA(&e, o)
	}
	return e
}

// kindOf returns obj's kind from its TypeMeta, or from its Go type.
func kindOf(obj Object) string {
	if k := obj.GetTypeMeta().Kind; k != "" {
		return k
	}
	t := reflect.TypeOf(obj)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}

// fieldErrors collects problems as "path: message", with the message
// phrased as Kubernetes phrases field errors.
type fieldErrors []string

func (e *fieldErrors) add(path, format string, args ...any) {
	*e = append(*e, path+": "+fmt.Sprintf(format, args...))
}

func (e *fieldErrors) required(path, hint string) {
	if hint == "" {
		e.add(path, "Required value")
		return
	}
	e.add(path, "Required value: %s", hint)
}

func (e *fieldErrors) invalid(path string, value any, msg string) {
	e.add(path, "Invalid value: %s: %s", showValue(value), msg)
}

func (e *fieldErrors) unsupported(path, value string, supported ...string) {
	q := make([]string, len(supported))
	for i, s := range supported {
		q[i] = strconv.Quote(s)
	}
	e.add(path, "Unsupported value: %q: supported values: %s", value, strings.Join(q, ", "))
}

func (e *fieldErrors) duplicate(path string, value any) {
	e.add(path, "Duplicate value: %s", showValue(value))
}

func (e *fieldErrors) forbidden(path, msg string) { e.add(path, "Forbidden: %s", msg) }

func (e *fieldErrors) notFound(path string, value any, hint string) {
	e.add(path, "Not found: %s: %s", showValue(value), hint)
}

func (e *fieldErrors) tooLong(path string, max int) {
	e.add(path, "Too long: must have at most %d bytes", max)
}

// nonNegative reports a negative count or duration.
func (e *fieldErrors) nonNegative(path string, v int64) {
	if v < 0 {
		e.invalid(path, v, "must be greater than or equal to 0")
	}
}

func showValue(v any) string {
	switch t := v.(type) {
	case string:
		return strconv.Quote(t)
	case *string:
		return strconv.Quote(*t)
	case Quantity:
		return strconv.Quote(t.String())
	case IntOrString:
		if t.Type == IntOrStringString {
			return strconv.Quote(t.StrVal)
		}
		return strconv.Itoa(int(t.IntVal))
	}
	return fmt.Sprint(v)
}

func idx(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

func key(path, k string) string { return path + "[" + k + "]" }

func sortedStrKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ---- names, labels, annotations ----

var (
	dns1035Label      = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)
	qualifiedNamePart = regexp.MustCompile(`^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`)
	labelValueRe      = regexp.MustCompile(`^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`)
	configKeyRe       = regexp.MustCompile(`^[-._a-zA-Z0-9]+$`)
	envVarNameRe      = regexp.MustCompile(`^[-._a-zA-Z][-._a-zA-Z0-9]*$`)
)

const (
	msgDNSLabel     = "must be lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters"
	msgDNSSubdomain = "must be lower-case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters"
	msgDNS1035      = "must be lower-case letters, digits and '-', starting with a letter and ending with a letter or digit, at most 63 characters"
)

func isDNSLabel(s string) bool     { return len(s) <= 63 && dns1123Label.MatchString(s) }
func isDNSSubdomain(s string) bool { return len(s) <= 253 && dns1123Subdomain.MatchString(s) }
func isDNS1035Label(s string) bool { return len(s) <= 63 && dns1035Label.MatchString(s) }

// nameHint suggests a valid name close to name, if there is an obvious one.
func nameHint(name string, valid func(string) bool) string {
	for _, s := range []string{suggestName(name), strings.ReplaceAll(suggestName(name), ".", "-")} {
		if s != name && valid(s) {
			return fmt.Sprintf(" (try %q)", s)
		}
	}
	return ""
}

// qualifiedNameErrors checks a label key (or annotation key, node selector
// key, topology key): an optional DNS subdomain prefix and '/', then a
// name of at most 63 characters.
func qualifiedNameErrors(k string) []string {
	var msgs []string
	name := k
	if prefix, rest, ok := strings.Cut(k, "/"); ok {
		name = rest
		switch {
		case prefix == "":
			msgs = append(msgs, "prefix part must be non-empty")
		case !isDNSSubdomain(prefix):
			msgs = append(msgs, "prefix part must be a lower-case DNS subdomain, such as example.com")
		}
		if strings.Contains(rest, "/") {
			return append(msgs, "a qualified name has at most one '/', between an optional DNS subdomain prefix and the name (e.g. 'example.com/my-name')")
		}
	}
	switch {
	case name == "":
		msgs = append(msgs, "name part must be non-empty")
	case len(name) > 63:
		msgs = append(msgs, "name part must be no more than 63 characters")
	}
	if name != "" && !qualifiedNamePart.MatchString(name) {
		msgs = append(msgs, "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName', 'my.name' or '123-abc')")
	}
	return msgs
}

func labelValueError(v string) string {
	if len(v) > 63 {
		return "must be no more than 63 characters"
	}
	if !labelValueRe.MatchString(v) {
		return "a label value must be empty or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue', 'my_value' or '12345')"
	}
	return ""
}

func validateQualifiedName(e *fieldErrors, path, k string) {
	for _, msg := range qualifiedNameErrors(k) {
		e.invalid(path, k, msg)
	}
}

func validateLabels(e *fieldErrors, path string, labels map[string]string) {
	for _, k := range sortedStrKeys(labels) {
		validateQualifiedName(e, path, k)
		if msg := labelValueError(labels[k]); msg != "" {
			e.invalid(key(path, k), labels[k], msg)
		}
	}
}

const totalAnnotationSizeLimit = 256 << 10

func validateAnnotations(e *fieldErrors, path string, annotations map[string]string) {
	size := 0
	for _, k := range sortedStrKeys(annotations) {
		validateQualifiedName(e, path, strings.ToLower(k))
		size += len(k) + len(annotations[k])
	}
	if size > totalAnnotationSizeLimit {
		e.tooLong(path, totalAnnotationSizeLimit)
	}
}

func validateObjectMeta(e *fieldErrors, m *ObjectMeta, kind string, namespaced bool) {
	switch {
	case m.Name == "":
		e.required("metadata.name", "every object needs a name")
	case kind == "Namespace":
		if !isDNSLabel(m.Name) {
			e.invalid("metadata.name", m.Name, msgDNSLabel+nameHint(m.Name, isDNSLabel))
		}
	case kind == "Service":
		if !isDNS1035Label(m.Name) {
			e.invalid("metadata.name", m.Name, msgDNS1035+nameHint(m.Name, isDNS1035Label))
		}
	case !isDNSSubdomain(m.Name):
		e.invalid("metadata.name", m.Name, msgDNSSubdomain+nameHint(m.Name, isDNSSubdomain))
	case kind == "CronJob" && len(m.Name) > 52:
		e.invalid("metadata.name", m.Name, "must be no more than 52 characters, so that the names of its Jobs fit")
	}
	if m.Namespace != "" {
		if !namespaced {
			e.forbidden("metadata.namespace", fmt.Sprintf("%s objects are not namespaced; remove metadata.namespace", kind))
		} else if !isDNSLabel(m.Namespace) {
			e.invalid("metadata.namespace", m.Namespace, msgDNSLabel)
		}
	}
	validateLabels(e, "metadata.labels", m.Labels)
	validateAnnotations(e, "metadata.annotations", m.Annotations)
}

// ---- small kinds ----

const maxConfigSize = 1 << 20

func configKeyError(k string) string {
	switch {
	case len(k) > 253:
		return "must be no more than 253 characters"
	case !configKeyRe.MatchString(k):
		return "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name', 'KEY_NAME' or 'key-name')"
	case k == "." || k == "..":
		return "must not be '.' or '..'"
	case strings.HasPrefix(k, ".."):
		return "must not start with '..'"
	}
	return ""
}

func validateConfigKeys[V any](e *fieldErrors, path string, m map[string]V) {
	for _, k := range sortedStrKeys(m) {
		if msg := configKeyError(k); msg != "" {
			e.invalid(path, k, msg)
		}
	}
}

func validateConfigMap(e *fieldErrors, cm *ConfigMap) {
	validateConfigKeys(e, "data", cm.Data)
	validateConfigKeys(e, "binaryData", cm.BinaryData)
	size := 0
	for _, k := range sortedStrKeys(cm.Data) {
		size += len(k) + len(cm.Data[k])
		if _, dup := cm.BinaryData[k]; dup {
			e.invalid(key("data", k), k, "the key is also in binaryData; use each key once")
		}
	}
	for k, v := range cm.BinaryData {
		size += len(k) + len(v)
	}
	if size > maxConfigSize {
		e.tooLong("data", maxConfigSize)
	}
}

func validateSecret(e *fieldErrors, s *Secret) {
	validateConfigKeys(e, "data", s.Data)
	validateConfigKeys(e, "stringData", s.StringData)
	size := 0
	has := map[string]bool{}
	for k, v := range s.Data {
		size += len(k) + len(v)
		has[k] = true
	}
	for k, v := range s.StringData {
		size += len(k) + len(v)
		has[k] = true
	}
	if size > maxConfigSize {
		e.tooLong("data", maxConfigSize)
	}
	need := map[string][]string{
		SecretTypeTLS:              {"tls.crt", "tls.key"},
		SecretTypeDockerConfigJSON: {".dockerconfigjson"},
	}[s.Type]
	for _, k := range need {
		if !has[k] {
			e.required(key("data", k), fmt.Sprintf("a %s Secret needs the key %q", s.Type, k))
		}
	}
	if s.Type != "" && len(s.Type) > 253 {
		e.invalid("type", s.Type, "must be no more than 253 characters")
	}
}

var taintEffects = []string{string(TaintEffectNoSchedule), string(TaintEffectPreferNoSchedule), string(TaintEffectNoExecute)}

func validateNode(e *fieldErrors, n *Node) {
	if n.Spec.PodCIDR != "" {
		if _, _, err := net.ParseCIDR(n.Spec.PodCIDR); err != nil {
			e.invalid("spec.podCIDR", n.Spec.PodCIDR, "must be a CIDR such as 10.42.3.0/24")
		}
	}
	seen := map[string]bool{}
	for i, t := range n.Spec.Taints {
		p := idx("spec.taints", i)
		if t.Key == "" {
			e.required(p+".key", "")
		} else {
			validateQualifiedName(e, p+".key", t.Key)
		}
		if msg := labelValueError(t.Value); msg != "" {
			e.invalid(p+".value", t.Value, msg)
		}
		if t.Effect == "" {
			e.required(p+".effect", "one of NoSchedule, PreferNoSchedule or NoExecute")
		} else if !contains(taintEffects, string(t.Effect)) {
			e.unsupported(p+".effect", string(t.Effect), taintEffects...)
		}
		if id := t.Key + "/" + string(t.Effect); seen[id] {
			e.duplicate(p, t.Key+":"+string(t.Effect))
		} else {
			seen[id] = true
		}
	}
	validateResourceAmounts(e, "status.capacity", n.Status.Capacity)
	validateResourceAmounts(e, "status.allocatable", n.Status.Allocatable)
}

func validateResourceAmounts(e *fieldErrors, path string, l ResourceList) {
	for _, k := range sortedStrKeys(l) {
		if l[k].Sign() < 0 {
			e.invalid(key(path, k), l[k], "must be greater than or equal to 0")
		}
	}
}

func validateEvent(e *fieldErrors, ev *Event) {
	if ev.InvolvedObject.Kind == "" {
		e.required("involvedObject.kind", "")
	}
	if ev.InvolvedObject.Name == "" {
		e.required("involvedObject.name", "")
	}
	if ns := ev.InvolvedObject.Namespace; ns != "" && ev.Namespace != "" && ns != ev.Namespace {
		e.invalid("involvedObject.namespace", ns, "does not match the event's namespace "+strconv.Quote(ev.Namespace))
	}
	if ev.Type != "" && ev.Type != EventTypeNormal && ev.Type != EventTypeWarning {
		e.unsupported("type", ev.Type, EventTypeNormal, EventTypeWarning)
	}
	e.nonNegative("count", int64(ev.Count))
}

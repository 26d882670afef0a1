package node

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/shoal-dev/shoal/api"
)

// filter is a parsed labelSelector and fieldSelector.
type filter struct {
	labels api.Selector
	fields []fieldReq
}

type fieldReq struct {
	path  string
	value string
	not   bool
}

// fieldSelectable lists the fields a fieldSelector may name, per kind, as
// Kubernetes allows them (metadata.name and metadata.namespace always).
var fieldSelectable = map[string][]string{
	"Pod":   {"spec.nodeName", "status.phase", "spec.restartPolicy"},
	"Event": {"involvedObject.kind", "involvedObject.name", "involvedObject.namespace", "involvedObject.uid", "reason", "type"},
	"Node":  {"spec.unschedulable"},
}

func parseFilter(kind string, q url.Values) (filter, error) {
	var f filter
	var err error
	if f.labels, err = api.ParseSelector(q.Get("labelSelector")); err != nil {
		return f, api.NewError(api.ReasonBadRequest, "labelSelector: %v", err)
	}
	fs := q.Get("fieldSelector")
	if fs == "" {
		return f, nil
	}
	for _, term := range strings.Split(fs, ",") {
		var r fieldReq
		var ok bool
		if r.path, r.value, ok = strings.Cut(term, "!="); ok {
			r.not = true
		} else if r.path, r.value, ok = strings.Cut(term, "=="); !ok {
			r.path, r.value, ok = strings.Cut(term, "=")
		}
		r.path = strings.TrimSpace(r.path)
		if !ok || r.path == "" {
			return f, api.NewError(api.ReasonBadRequest, "fieldSelector: %q is not field=value or field!=value", term)
		}
		allowed := append([]string{"metadata.name", "metadata.namespace"}, fieldSelectable[kind]...)
		found := false
		for _, a := range allowed {
			found = found || a == r.path
		}
		if !found {
			return f, api.NewError(api.ReasonBadRequest, "fieldSelector: %q is not a supported field selector for %s (use one of %s)", r.path, kind, strings.Join(allowed, ", "))
		}
		f.fields = append(f.fields, r)
	}
	return f, nil
}

func (f filter) empty() bool { return f.labels.Empty() && len(f.fields) == 0 }

func (f filter) matches(obj api.Object) bool {
	if !f.labels.Matches(obj.GetObjectMeta().Labels) {
		return false
	}
	if len(f.fields) == 0 {
		return true
	}
	b, _ := json.Marshal(obj)
	var m map[string]any
	json.Unmarshal(b, &m)
	for _, r := range f.fields {
		if (lookupField(m, r.path) == r.value) == r.not {
			return false
		}
	}
	return true
}

func lookupField(m map[string]any, path string) string {
	var cur any = m
	for _, p := range strings.Split(path, ".") {
		mm, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = mm[p]
	}
	if cur == nil {
		return ""
	}
	return fmt.Sprint(cur)
}

func (f filter) apply(objs []api.Object) []api.Object {
	if f.empty() {
		return objs
	}
	out := objs[:0:0]
	for _, o := range objs {
		if f.matches(o) {
			out = append(out, o)
		}
	}
	return out
}

package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// FuzzDecodeManifests checks that the decoder never panics, that its errors
// are *Status values whose every line names the input, and that whatever it
// accepts survives a round trip: the object re-encoded as JSON decodes again
// to an object with the same encoding, and that one decodes to an equal
// object.
func FuzzDecodeManifests(f *testing.F) {
	for _, s := range []string{
		multiDoc,
		"",
		"---\n# c\n---\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, labels: {x: \"1\"}}\ndata: {k: v}\nbinaryData: {b: aGk=}\nimmutable: true\n",
		"apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: ns}\ntype: Opaque\ndata: {k: dg==}\nstringData: {a: b}\n",
		"apiVersion: v1\nkind: Node\nmetadata: {name: n1, creationTimestamp: \"2026-01-02T15:04:05Z\"}\nspec: {taints: [{key: k, effect: NoSchedule}]}\nstatus: {capacity: {cpu: \"4\"}}\n",
		"apiVersion: v1\nkind: Namespace\nmetadata: {name: team, ownerReferences: [{apiVersion: v1, kind: Node, name: n1, uid: u, controller: true}]}\n",
		"apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n- {apiVersion: v1, kind: Namespace, metadata: {name: b}}\n",
		`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","generation":3}}`,
		`[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}},{"apiVersion":"v1","kind":"Node","metadata":{"name":"b"}}]`,
		`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}} {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b"}}`,
		"a: b\nc: d: e\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n",
		"%YAML 1.1\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n...\n--- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}\n",
		"a: &x [*x, *x]\n",
		"0000000000: 00\nkind: ConfigMap\nmetadata:\n name: |\n  0\n01:",
		"- 1\n- [2]\n",
		"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers:\n      - name: web\n        image: nginx\n        resources: {requests: {cpu: 500m, memory: 1Gi}, limits: {nvidia.com/gpu: 1}}\n        ports: [{containerPort: 80}]\n",
		"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    image: busybox\n    env: [{name: A, value: b}]\n  restartPolicy: Never\n",
	} {
		f.Add([]byte(s))
	}
	// The project's example manifests, when present.
	if files, _ := filepath.Glob(filepath.Join("..", "examples", "*.yaml")); len(files) > 0 {
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := DecodeManifests("fuzz.yaml", data)
		if err != nil {
			var st *Status
			if !errors.As(err, &st) {
				t.Fatalf("error is %T, not *Status: %v", err, err)
			}
			if docs != nil {
				t.Fatalf("%d objects returned with an error", len(docs))
			}
			switch st.Reason {
			case ReasonInvalid, ReasonBadRequest, ReasonTooLarge:
			default:
				t.Fatalf("reason %s: %v", st.Reason, err)
			}
			for _, l := range strings.Split(st.Message, "\n") {
				if !strings.HasPrefix(l, "fuzz.yaml doc ") && !strings.HasPrefix(l, "... and ") {
					t.Fatalf("error line does not name the document: %q", l)
				}
			}
			return
		}
		for _, d := range docs {
			if d.Source != "fuzz.yaml" || d.Index < 1 || d.Object == nil {
				t.Fatalf("bad document %+v", d)
			}
			kind := d.Object.GetTypeMeta().Kind
			if r, ok := ResourceForKind(kind); !ok || d.Object.GetTypeMeta().APIVersion != r.APIVersion() {
				t.Fatalf("decoded %T with TypeMeta %+v", d.Object, d.Object.GetTypeMeta())
			}
			if d.Object.GetObjectMeta().Name == "" {
				t.Fatalf("decoded %s without a name", kind)
			}
			j1, err := json.Marshal(d.Object)
			if err != nil {
				t.Fatalf("marshal %s: %v", kind, err)
			}
			again, err := DecodeManifests("again.json", j1)
			if err != nil {
				t.Fatalf("re-encoded %s does not decode: %v\n%s", kind, err, j1)
			}
			if len(again) != 1 {
				t.Fatalf("re-encoded %s decodes to %d objects", kind, len(again))
			}
			j2, err := json.Marshal(again[0].Object)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(j1, j2) {
				t.Fatalf("round trip changed the object:\n%s\n%s", j1, j2)
			}
			third, err := DecodeManifests("third.yaml", j2)
			if err != nil || len(third) != 1 {
				t.Fatalf("third decode: %d, %v", len(third), err)
			}
			if !reflect.DeepEqual(again[0].Object, third[0].Object) {
				t.Fatalf("decoding the same JSON twice gave different objects:\n%#v\n%#v", again[0].Object, third[0].Object)
			}
		}
	})
}

package consensus

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/shoal-dev/shoal/api"
)

// specJSONChanged is the definition specChanged implements: the objects'
// JSON without type, metadata and status differs.
func specJSONChanged(t *testing.T, a, b api.Object) bool {
	strip := func(o api.Object) []byte {
		data, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"apiVersion", "kind", "metadata", "status"} {
			delete(m, f)
		}
		out, _ := json.Marshal(m)
		return out
	}
	return !bytes.Equal(strip(a), strip(b))
}

// mutate changes one random value of v's JSON tree outside metadata: it
// replaces a leaf, empties a list or map, drops a key or adds an empty one.
func mutate(r *rand.Rand, v any, depth int) any {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			if depth == 0 && (k == "metadata" || k == "apiVersion" || k == "kind") {
				continue
			}
			keys = append(keys, k)
		}
		if len(keys) == 0 {
			return x
		}
		k := keys[r.IntN(len(keys))]
		switch r.IntN(6) {
		case 0:
			if depth > 0 {
				delete(x, k)
			}
		case 1:
			x[k] = map[string]any{}
		case 2:
			x[k] = []any{}
		default:
			x[k] = mutate(r, x[k], depth+1)
		}
		return x
	case []any:
		if len(x) == 0 {
			return x
		}
		i := r.IntN(len(x))
		x[i] = mutate(r, x[i], depth+1)
		return x
	case string:
		return x + "x"
	case float64:
		return x + 1
	case bool:
		return !x
	}
	return v
}

// specChanged agrees with the JSON definition on every example manifest
// and on thousands of random mutations of them, including the empty and
// omitted values where a walk and the JSON could part.
func TestSpecChangedMatchesJSON(t *testing.T) {
	paths, _ := filepath.Glob("../examples/*.yaml")
	var docs []api.Document
	for _, p := range paths {
		d, _ := api.ReadManifests([]string{p}, nil, false) // some examples are meant to be refused
		docs = append(docs, d...)
	}
	if len(docs) < 10 {
		t.Fatalf("only %d objects in %d example manifests", len(docs), len(paths))
	}
	r := rand.New(rand.NewPCG(1, 2))
	compared, changed := 0, 0
	for _, d := range docs {
		orig := d.Object
		if specChanged(orig, api.Copy(orig)) {
			t.Errorf("%s: a copy counts as a spec change", api.KeyOf(orig))
		}
		data, _ := json.Marshal(orig)
		for range 300 {
			var tree any
			json.Unmarshal(data, &tree)
			tree = mutate(r, tree, 0)
			mdata, _ := json.Marshal(tree)
			next, err := api.DecodeJSON(orig.GetTypeMeta().Kind, mdata)
			if err != nil {
				continue // the mutation made it another type
			}
			want := specJSONChanged(t, orig, next)
			if got := specChanged(orig, next); got != want {
				t.Fatalf("%s: specChanged = %v, the JSON says %v\nbefore: %s\nafter:  %s", api.KeyOf(orig), got, want, data, mdata)
			}
			compared++
			if want {
				changed++
			}
		}
	}
	t.Logf("%d objects, %d comparisons, %d of them spec changes", len(docs), compared, changed)
	if compared < 1000 || changed == 0 || changed == compared {
		t.Fatalf("only %d comparisons, %d of them changes: the mutations do not exercise specChanged", compared, changed)
	}
}

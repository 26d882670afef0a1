package node

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/consensus"
)

// FuzzDecodeObject feeds arbitrary bodies to the API's object decoder: it
// never panics, and what it accepts can be turned into a command.
func FuzzDecodeObject(f *testing.F) {
	f.Add("/api/v1/namespaces/default/configmaps", `{"metadata":{"name":"a"},"data":{"k":"v"}}`)
	f.Add("/api/v1/namespaces", `{"metadata":{"name":"ns"}}`)
	f.Add("/api/v1/namespaces/default/configmaps/a", `{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"a","resourceVersion":"3"}}`)
	f.Add("/api/v1/nodes/n1", `{"metadata":{"name":"n1"},"spec":{"taints":[{"key":"k","effect":"NoSchedule"}]}}`)
	f.Add("/apis/x/v1/things", `[]`)
	f.Fuzz(func(t *testing.T, path, body string) {
		if !strings.HasPrefix(path, "/") {
			return
		}
		ref, err := parseObjectPath(path)
		if err != nil {
			return
		}
		req := httptest.NewRequest("POST", "/", strings.NewReader(body))
		obj, err := decodeObject(req, ref)
		if err != nil {
			if api.AsStatus(err).Code < 400 {
				t.Fatalf("error with a non-error code: %v", err)
			}
			return
		}
		if err := api.ValidateName(ref.res.Kind, obj.GetObjectMeta().Name); err != nil {
			t.Fatalf("accepted an invalid name: %v", err)
		}
		op := consensus.OpUpdate
		if obj.GetObjectMeta().ResourceVersion == "" {
			op = consensus.OpCreate
		}
		if _, err := consensus.OpFor(op, obj); err != nil && api.ReasonOf(err) != api.ReasonInvalid {
			t.Fatalf("accepted object cannot become a command: %v", err)
		}
	})
}

func FuzzParseToken(f *testing.F) {
	f.Add("SHL1-" + strings.Repeat("A", 43))
	f.Add("SHL1-")
	f.Add("garbage")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseToken(s)
		if err != nil {
			return
		}
		if len(tok.GossipKey) != 32 {
			t.Fatalf("accepted a %d-byte key", len(tok.GossipKey))
		}
		back, err := ParseToken(tok.String())
		if err != nil || string(back.GossipKey) != string(tok.GossipKey) {
			t.Fatalf("token does not round-trip: %v", err)
		}
	})
}

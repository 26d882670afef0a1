package api

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestTimeRoundTrip(t *testing.T) {
	tm := NewTime(time.Date(2026, 3, 4, 5, 6, 7, 890, time.FixedZone("x", 3600)))
	b, err := json.Marshal(tm)
	if err != nil || string(b) != `"2026-03-04T04:06:07Z"` {
		t.Fatalf("marshal = %s, %v", b, err)
	}
	var back Time
	if err := json.Unmarshal(b, &back); err != nil || !back.Equal(tm.Time) {
		t.Fatalf("unmarshal = %v, %v", back, err)
	}
	if err := json.Unmarshal([]byte(`"yesterday"`), &back); err == nil || !strings.Contains(err.Error(), "RFC 3339") {
		t.Fatalf("bad time: %v", err)
	}
}

func TestValidateName(t *testing.T) {
	for _, ok := range []string{"a", "web-1", "web.example", strings.Repeat("a", 253)} {
		if err := ValidateName("ConfigMap", ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "Web", "-a", "a-", "a_b", strings.Repeat("a", 254)} {
		err := ValidateName("ConfigMap", bad)
		if err == nil || ReasonOf(err) != ReasonInvalid || !strings.Contains(err.Error(), "metadata.name") {
			t.Errorf("%q: got %v, want an Invalid error naming metadata.name", bad, err)
		}
	}
	if err := ValidateName("Namespace", "a.b"); err == nil {
		t.Error("a namespace name with a dot was accepted")
	}
	if err := ValidateName("ConfigMap", "My_App"); !strings.Contains(err.Error(), `try "my-app"`) {
		t.Errorf("no suggestion in %v", err)
	}
}

func TestRegistryAndDecode(t *testing.T) {
	r, ok := ResourceForName("configmaps")
	if !ok || r.Kind != "ConfigMap" || r.Path("ns1") != "/api/v1/namespaces/ns1/configmaps" {
		t.Fatalf("configmaps resolved to %+v", r)
	}
	if _, ok := ResourceForPath("", "v1", "nodes"); !ok {
		t.Fatal("nodes not found by path")
	}
	obj, err := DecodeAny([]byte(`{"kind":"ConfigMap","metadata":{"name":"a"},"data":{"k":"v"}}`))
	if err != nil {
		t.Fatal(err)
	}
	cm := obj.(*ConfigMap)
	if cm.APIVersion != "v1" || cm.Data["k"] != "v" {
		t.Fatalf("decoded %+v", cm)
	}
	cp := Copy(cm)
	cp.Data["k"] = "changed"
	if cm.Data["k"] != "v" {
		t.Fatal("Copy shares maps with the original")
	}
	if _, err := New("Widget"); err == nil || !strings.Contains(err.Error(), "known kinds") {
		t.Fatalf("unknown kind: %v", err)
	}
}

func TestErrors(t *testing.T) {
	e := NewError(ReasonServiceUnavailable, "no leader")
	if e.Code != 503 || !IsRetryable(e) || IsNotFound(e) {
		t.Fatalf("%+v", e)
	}
	if !IsConflict(NewError(ReasonAlreadyExists, "x")) || !IsConflict(NewError(ReasonConflict, "x")) {
		t.Fatal("conflicts not recognised")
	}
	if AsStatus(json.Unmarshal([]byte("{"), &struct{}{})).Code != 500 {
		t.Fatal("plain errors are not internal errors")
	}
}

package api

import (
	"encoding/json"
	"fmt"
	"reflect"
	"time"
)

// TypeMeta names the kind of an object and the API version it is written in.
type TypeMeta struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind,omitempty"`
}

// ObjectMeta is the metadata every stored object carries.
type ObjectMeta struct {
	Name      string `json:"name,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	UID       string `json:"uid,omitempty"`
	// ResourceVersion is the Raft index of the command that last wrote the
	// object, in decimal. On a write it is a precondition: the write fails
	// with a conflict unless the stored object still has this version.
	ResourceVersion   string            `json:"resourceVersion,omitempty"`
	Generation        int64             `json:"generation,omitempty"`
	CreationTimestamp *Time             `json:"creationTimestamp,omitempty"`
	DeletionTimestamp *Time             `json:"deletionTimestamp,omitempty"`
	Labels            map[string]string `json:"labels,omitempty"`
	Annotations       map[string]string `json:"annotations,omitempty"`
	OwnerReferences   []OwnerReference  `json:"ownerReferences,omitempty"`
}

// OwnerReference points from a dependent object to the object that owns it.
type OwnerReference struct {
	APIVersion         string `json:"apiVersion"`
	Kind               string `json:"kind"`
	Name               string `json:"name"`
	UID                string `json:"uid"`
	Controller         *bool  `json:"controller,omitempty"`
	BlockOwnerDeletion *bool  `json:"blockOwnerDeletion,omitempty"`
}

// Time is a timestamp serialised as RFC 3339 in UTC, as Kubernetes does.
type Time struct{ time.Time }

// NewTime wraps t, truncated to the second as Kubernetes timestamps are.
func NewTime(t time.Time) *Time { return &Time{t.UTC().Truncate(time.Second)} }

// MarshalJSON implements json.Marshaler.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(t.UTC().Format(time.RFC3339))
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		t.Time = time.Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("time must be an RFC 3339 string such as \"2026-01-02T15:04:05Z\"")
	}
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return fmt.Errorf("time %q is not RFC 3339 (try \"2026-01-02T15:04:05Z\")", s)
	}
	t.Time = v.UTC()
	return nil
}

// Object is implemented by every resource type.
type Object interface {
	GetTypeMeta() *TypeMeta
	GetObjectMeta() *ObjectMeta
}

// GetTypeMeta returns the object's type metadata.
func (t *TypeMeta) GetTypeMeta() *TypeMeta { return t }

// GetObjectMeta returns the object's metadata.
func (m *ObjectMeta) GetObjectMeta() *ObjectMeta { return m }

// Key identifies a stored object.
type Key struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

func (k Key) String() string {
	if k.Namespace == "" {
		return k.Kind + "/" + k.Name
	}
	return k.Kind + "/" + k.Namespace + "/" + k.Name
}

// KeyOf returns the key of obj.
func KeyOf(obj Object) Key {
	m := obj.GetObjectMeta()
	return Key{Kind: obj.GetTypeMeta().Kind, Namespace: m.Namespace, Name: m.Name}
}

// CopyStatus sets dst's status field to src's, for kinds that have one;
// for others it does nothing. src and dst are pointers to the same kind.
func CopyStatus(src, dst Object) {
	sv := reflect.ValueOf(src).Elem().FieldByName("Status")
	dv := reflect.ValueOf(dst).Elem().FieldByName("Status")
	if sv.IsValid() && dv.IsValid() && dv.CanSet() && sv.Type() == dv.Type() {
		dv.Set(sv)
	}
}

// AnnotationRevision is the revision a Deployment controller records on a
// Deployment and its ReplicaSets, as Kubernetes names it.
const AnnotationRevision = "deployment.kubernetes.io/revision"

// SystemAnnotations are written by controllers, not by users: an update
// that leaves them out keeps them.
var SystemAnnotations = []string{AnnotationRevision}

// KeepSystemAnnotations copies into dst the system annotations that src has
// and dst leaves out.
func KeepSystemAnnotations(src, dst Object) {
	m, c := dst.GetObjectMeta(), src.GetObjectMeta()
	for _, k := range SystemAnnotations {
		v, ok := c.Annotations[k]
		if !ok {
			continue
		}
		if _, set := m.Annotations[k]; set {
			continue
		}
		if m.Annotations == nil {
			m.Annotations = map[string]string{}
		}
		m.Annotations[k] = v
	}
}

package node

import (
	"encoding/json"

	"github.com/shoal-dev/shoal/api"
)

func secretAAD(s *api.Secret) []byte { return []byte("secret/" + s.Namespace + "/" + s.Name) }

// sealIn prepares a Secret for the store: stringData is folded into data
// (it wins, as in Kubernetes) and, unless the cluster is insecure, data is
// encrypted so that the Raft log, snapshots and replicas never hold it in
// the clear.
func (a *Agent) sealIn(obj api.Object) error {
	if err := foldStringData(obj); err != nil {
		return err
	}
	s, ok := obj.(*api.Secret)
	if !ok || a.sec == nil {
		return nil
	}
	plain, err := json.Marshal(s.Data)
	if err != nil {
		return err
	}
	if s.Sealed, err = a.sec.sealer.Seal(plain, secretAAD(s)); err != nil {
		return err
	}
	s.Data = nil
	return nil
}

// foldStringData moves a Secret's stringData into data, refusing a
// user-supplied sealed field. It is idempotent.
func foldStringData(obj api.Object) error {
	s, ok := obj.(*api.Secret)
	if !ok {
		return nil
	}
	if s.Sealed != nil {
		return api.NewError(api.ReasonBadRequest, "secret %q: sealed is managed by the cluster; put values in data or stringData", s.Name)
	}
	if len(s.StringData) > 0 && s.Data == nil {
		s.Data = map[string][]byte{}
	}
	for k, v := range s.StringData {
		s.Data[k] = []byte(v)
	}
	s.StringData = nil
	return nil
}

// present returns obj as the API shows it: a Secret's data opened.
func (a *Agent) present(obj api.Object) api.Object {
	s, ok := obj.(*api.Secret)
	if !ok || s.Sealed == nil || a.sec == nil {
		return obj
	}
	out := api.Copy(s)
	out.Sealed = nil
	plain, err := a.sec.sealer.Open(s.Sealed, secretAAD(s))
	if err != nil {
		a.log.Error("cannot open a sealed secret; is this node's seal key from another cluster?", "secret", s.Namespace+"/"+s.Name, "err", err)
		return out
	}
	json.Unmarshal(plain, &out.Data)
	return out
}

func (a *Agent) presentAll(objs []api.Object) []api.Object {
	out := make([]api.Object, len(objs))
	for i, o := range objs {
		out[i] = a.present(o)
	}
	return out
}

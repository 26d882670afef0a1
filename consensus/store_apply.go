package consensus

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"sort"
	"strconv"
	"strings"

	"github.com/shoal-dev/shoal/api"
)

// change is one op of a command, checked and ready to install.
type change struct {
	key   api.Key
	event EventType
	// obj is the object to store, or for a delete the object as it was
	// with the delete's resourceVersion.
	obj api.Object
}

// Apply applies cmd at Raft index index, all or nothing, and returns the
// result; see the package documentation for the rules. index must be above
// Index(); a lower one is refused with an error result and changes nothing.
// Otherwise the index advances even when the command fails. The FSM calls
// Apply; tests of other packages may call it to drive a store without Raft.
func (s *Store) Apply(index uint64, cmd WriteCommand) *WriteResult {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()

	res := &WriteResult{Index: index}
	// Holding writeMu, the state cannot change under us: plan without mu so
	// that readers are not held up by decoding.
	if cur := s.index; index <= cur {
		res.Err = api.NewError(api.ReasonInternal,
			"consensus: index %d is not after the store's index %d; commands must be applied in log order, each once", index, cur)
		return res
	}
	changes, err := s.plan(index, cmd)

	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		res.Err = err
		s.setIndexLocked(index)
		return res
	}
	res.Objects = make([]api.Object, len(changes))
	for i, c := range changes {
		if c.event == EventDeleted {
			s.deleteLocked(c.key)
		} else {
			s.putLocked(c.key, c.obj)
		}
		s.recordLocked(Event{Type: c.event, Index: index, Object: c.obj})
		res.Objects[i] = c.obj
	}
	s.setIndexLocked(index)
	return res
}

// plan checks every op of cmd against the state and the ops before it, and
// computes the objects to store. It reads the state, so the caller holds
// writeMu. It returns the first failure as an *api.Status.
func (s *Store) plan(index uint64, cmd WriteCommand) ([]change, *api.Status) {
	// pending holds what earlier ops of this command did: an object, or nil
	// for a delete.
	pending := map[api.Key]api.Object{}
	current := func(k api.Key) api.Object {
		if obj, ok := pending[k]; ok {
			return obj
		}
		return s.lookup(k)
	}
	rv := strconv.FormatUint(index, 10)
	changes := make([]change, 0, len(cmd.Ops))
	for pos, op := range cmd.Ops {
		if err := checkKey(op.Key); err != nil {
			return nil, err
		}
		cur := current(op.Key)
		var c change
		switch op.Type {
		case OpCreate, OpUpdate, OpPut:
			obj, err := decodeObject(op)
			if err != nil {
				return nil, err
			}
			switch {
			case op.Type == OpCreate && op.ExpectVersion != 0:
				return nil, api.NewError(api.ReasonInvalid,
					"%s: metadata.resourceVersion: must not be set on create (it is %d)", describe(op.Key), op.ExpectVersion)
			case op.Type == OpCreate && cur != nil:
				return nil, api.NewError(api.ReasonAlreadyExists, "%s", sentence(op.Key, "already exists"))
			case op.Type == OpUpdate && cur == nil,
				op.Type == OpPut && cur == nil && op.ExpectVersion != 0:
				return nil, notFound(op.Key)
			}
			if err := checkVersion(op, cur); err != nil {
				return nil, err
			}
			m := obj.GetObjectMeta()
			m.ResourceVersion = rv
			if cur == nil {
				c.event = EventAdded
				m.Generation = 1
				if m.CreationTimestamp == nil || m.CreationTimestamp.IsZero() {
					m.CreationTimestamp = nil
					if !cmd.Time.IsZero() {
						m.CreationTimestamp = api.NewTime(cmd.Time)
					}
				}
				if m.UID == "" {
					m.UID = deriveUID(index, pos, op.Key)
				}
			} else {
				c.event = EventModified
				if op.KeepStatus {
					api.CopyStatus(cur, obj)
					api.KeepSystemAnnotations(cur, obj)
				}
				old := cur.GetObjectMeta()
				m.UID = old.UID
				m.CreationTimestamp = old.CreationTimestamp
				m.Generation = old.Generation
				if specChanged(cur, obj) {
					m.Generation++
				}
			}
			c.obj = obj
		case OpStatus:
			obj, err := decodeObject(op)
			if err != nil {
				return nil, err
			}
			if cur == nil || cur.GetObjectMeta().UID != obj.GetObjectMeta().UID {
				continue
			}
			next := api.Copy(cur)
			api.CopyStatus(obj, next)
			next.GetObjectMeta().ResourceVersion = rv
			c.event, c.obj = EventModified, next
		case OpCheck:
			if cur == nil {
				return nil, notFound(op.Key)
			}
			if err := checkVersion(op, cur); err != nil {
				return nil, err
			}
			continue
		case OpDelete:
			if cur == nil {
				return nil, notFound(op.Key)
			}
			if err := checkVersion(op, cur); err != nil {
				return nil, err
			}
			c.event = EventDeleted
			c.obj = api.Copy(cur)
			c.obj.GetObjectMeta().ResourceVersion = rv
			c.key = op.Key
			pending[op.Key] = nil
			changes = append(changes, c)
			// Cascade: what the object owns and, for a namespace, what is
			// in it, go in the same command, in a deterministic order.
			for _, k := range s.dependents(cur, current) {
				dep := current(k)
				if dep == nil {
					continue
				}
				d := change{key: k, event: EventDeleted, obj: api.Copy(dep)}
				d.obj.GetObjectMeta().ResourceVersion = rv
				pending[k] = nil
				changes = append(changes, d)
			}
			continue
		default:
			return nil, api.NewError(api.ReasonInvalid,
				"%s: op %d: unknown op type %q (want create, update, put, delete, check or status)", describe(op.Key), pos, op.Type)
		}
		c.key = op.Key
		if c.event == EventDeleted {
			pending[op.Key] = nil
		} else {
			pending[op.Key] = c.obj
		}
		changes = append(changes, c)
	}
	return changes, nil
}

// checkKey checks that key names a registered kind and is scoped as the
// kind requires.
func checkKey(key api.Key) *api.Status {
	res, ok := api.ResourceForKind(key.Kind)
	if !ok {
		return api.NewError(api.ReasonInvalid, "%s: kind: unknown kind %q (known kinds: %s)",
			describe(key), key.Kind, strings.Join(api.Kinds(), ", "))
	}
	switch {
	case key.Name == "":
		return api.NewError(api.ReasonInvalid, "%s: metadata.name: must not be empty", describe(key))
	case res.Namespaced && key.Namespace == "":
		return api.NewError(api.ReasonInvalid, "%s: metadata.namespace: must be set, %s is namespaced", describe(key), key.Kind)
	case !res.Namespaced && key.Namespace != "":
		return api.NewError(api.ReasonInvalid, "%s: metadata.namespace: must be empty, %s is cluster-scoped", describe(key), key.Kind)
	}
	return nil
}

// checkVersion enforces op.ExpectVersion against the current object, if
// there is one.
func checkVersion(op Op, cur api.Object) *api.Status {
	if op.ExpectVersion == 0 || cur == nil {
		return nil
	}
	have := cur.GetObjectMeta().ResourceVersion
	if have == strconv.FormatUint(op.ExpectVersion, 10) {
		return nil
	}
	return api.NewError(api.ReasonConflict,
		"%s has been changed: expected resourceVersion %d but it is %s; re-read the object and retry",
		describe(op.Key), op.ExpectVersion, have)
}

// decodeObject decodes op.Object as the kind of op.Key and checks that it
// is the object the key names.
func decodeObject(op Op) (api.Object, *api.Status) {
	if len(op.Object) == 0 {
		return nil, api.NewError(api.ReasonInvalid, "%s: the %s op carries no object", describe(op.Key), op.Type)
	}
	obj, err := api.DecodeJSON(op.Key.Kind, op.Object)
	if err != nil {
		return nil, api.NewError(api.ReasonInvalid, "%s: the object does not decode: %v", describe(op.Key), err)
	}
	m := obj.GetObjectMeta()
	switch {
	case obj.GetTypeMeta().Kind != op.Key.Kind:
		return nil, api.NewError(api.ReasonInvalid, "%s: kind: %q does not match the kind %q the write is for",
			describe(op.Key), obj.GetTypeMeta().Kind, op.Key.Kind)
	case m.Namespace != op.Key.Namespace:
		return nil, api.NewError(api.ReasonInvalid, "%s: metadata.namespace: %q does not match the namespace %q the write is for",
			describe(op.Key), m.Namespace, op.Key.Namespace)
	case m.Name != op.Key.Name:
		return nil, api.NewError(api.ReasonInvalid, "%s: metadata.name: %q does not match the name %q the write is for",
			describe(op.Key), m.Name, op.Key.Name)
	}
	return obj, nil
}

// deriveUID makes the uid of a created object from where it was created, so
// that every replica derives the same one. It is shaped as a version 8
// (custom) UUID.
func deriveUID(index uint64, pos int, key api.Key) string {
	h := sha256.New()
	var n [16]byte
	binary.BigEndian.PutUint64(n[:8], index)
	binary.BigEndian.PutUint64(n[8:], uint64(pos))
	h.Write(n[:])
	h.Write([]byte(key.Kind + "\x00" + key.Namespace + "\x00" + key.Name))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x80 // version 8
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

// dependents lists, in a deterministic order, everything that goes when obj
// is deleted: objects owned by it (and by those, recursively) and, for a
// Namespace, every object in it.
func (s *Store) dependents(obj api.Object, current func(api.Key) api.Object) []api.Key {
	seen := map[api.Key]bool{api.KeyOf(obj): true}
	var out []api.Key
	queue := []api.Object{obj}
	for len(queue) > 0 {
		o := queue[0]
		queue = queue[1:]
		var next []api.Key
		if owned := s.idx.owned[o.GetObjectMeta().UID]; owned != nil {
			owned.Ascend(func(k api.Key) bool { next = append(next, k); return true })
		}
		if o.GetTypeMeta().Kind == "Namespace" {
			for kind, byNS := range s.objects {
				for name := range byNS[o.GetObjectMeta().Name] {
					next = append(next, api.Key{Kind: kind, Namespace: o.GetObjectMeta().Name, Name: name})
				}
			}
		}
		sortKeys(next)
		for _, k := range next {
			if seen[k] {
				continue
			}
			seen[k] = true
			if d := current(k); d != nil {
				out = append(out, k)
				queue = append(queue, d)
			}
		}
	}
	return out
}

func sortKeys(keys []api.Key) {
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
}

package consensus

import (
	"context"
	"strings"
	"sync"

	"github.com/shoal-dev/shoal/api"
)

// DefaultEventRetention is how many events a store keeps for watches to
// resume from, unless WithEventRetention says otherwise.
const DefaultEventRetention = 10000

// StoreOption configures a Store.
type StoreOption func(*Store)

// WithEventRetention sets how many of the latest events the store keeps so
// that watches can resume from an older index. Values below 1 mean 1.
func WithEventRetention(n int) StoreOption {
	return func(s *Store) {
		s.events.max = max(n, 1)
	}
}

// Store is the in-memory replica of the desired state. See the package
// documentation for its contract. The zero value is not usable; call
// NewStore.
type Store struct {
	// writeMu serialises writers (Apply, Restore, advance). A writer holding
	// it may read the state without mu, since nobody else changes it.
	writeMu sync.Mutex

	// mu guards everything below. Writers hold it only to install a change
	// they have already computed.
	mu sync.RWMutex
	// objects is kind → namespace → name → object.
	objects map[string]map[string]map[string]api.Object
	// idx holds the secondary indexes (store_index.go).
	idx   indexes
	count int
	index uint64
	// changed is closed and replaced whenever index moves.
	changed chan struct{}
	events  ring
	// histFrom is the lowest index a watch may start from: every event
	// with an index above it is still in events.
	histFrom uint64
}

// NewStore returns an empty store at index 0.
func NewStore(opts ...StoreOption) *Store {
	s := &Store{
		objects: map[string]map[string]map[string]api.Object{},
		idx:     newIndexes(),
		changed: make(chan struct{}),
		events:  ring{max: DefaultEventRetention},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Get returns the object stored under key, or an api.ReasonNotFound error.
// The object is shared: do not mutate it.
func (s *Store) Get(key api.Key) (api.Object, error) {
	s.mu.RLock()
	obj := s.lookup(key)
	s.mu.RUnlock()
	if obj == nil {
		return nil, notFound(key)
	}
	return obj, nil
}

// List returns the objects of kind in namespace ("" for every namespace),
// sorted by namespace then name, and the index the list reflects: a watch
// from that index sees every later change. The objects are shared: do not
// mutate them.
func (s *Store) List(kind, namespace string) (objs []api.Object, index uint64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.idx.list(kind, namespace), s.index
}

// Index returns the highest Raft index the store has applied.
func (s *Store) Index() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.index
}

// WaitForIndex blocks until Index() >= index, or returns ctx.Err() when ctx
// is done first.
func (s *Store) WaitForIndex(ctx context.Context, index uint64) error {
	for {
		s.mu.RLock()
		cur, changed := s.index, s.changed
		s.mu.RUnlock()
		if cur >= index {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// advance moves the index to index if it is higher, for log entries that
// change nothing in the store (failed decodes, configuration entries,
// commands of other types).
func (s *Store) advance(index uint64) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if index > s.index {
		s.setIndexLocked(index)
	}
}

// setIndexLocked sets the index and wakes everyone waiting for a change.
// The caller holds mu for writing.
func (s *Store) setIndexLocked(index uint64) {
	s.index = index
	close(s.changed)
	s.changed = make(chan struct{})
}

// lookup returns the stored object for key, or nil. The caller holds mu or
// writeMu.
func (s *Store) lookup(key api.Key) api.Object {
	return s.objects[key.Kind][key.Namespace][key.Name]
}

// putLocked stores obj under key. The caller holds mu for writing.
func (s *Store) putLocked(key api.Key, obj api.Object) {
	byNS := s.objects[key.Kind]
	if byNS == nil {
		byNS = map[string]map[string]api.Object{}
		s.objects[key.Kind] = byNS
	}
	names := byNS[key.Namespace]
	if names == nil {
		names = map[string]api.Object{}
		byNS[key.Namespace] = names
	}
	if old, ok := names[key.Name]; !ok {
		s.count++
	} else {
		s.idx.remove(key, old, false)
	}
	names[key.Name] = obj
	s.idx.add(key, obj)
}

// deleteLocked removes key, dropping index maps that become empty. The
// caller holds mu for writing.
func (s *Store) deleteLocked(key api.Key) {
	byNS := s.objects[key.Kind]
	names := byNS[key.Namespace]
	old, ok := names[key.Name]
	if !ok {
		return
	}
	s.idx.remove(key, old, true)
	delete(names, key.Name)
	s.count--
	if len(names) == 0 {
		delete(byNS, key.Namespace)
		if len(byNS) == 0 {
			delete(s.objects, key.Kind)
		}
	}
}

// describe names an object for people: `configmap "web" in namespace
// "default"`, `namespace "prod"`.
func describe(key api.Key) string {
	kind := strings.ToLower(key.Kind)
	if kind == "" {
		kind = "object"
	}
	if key.Namespace == "" {
		return kind + " " + quote(key.Name)
	}
	return kind + " " + quote(key.Name) + " in namespace " + quote(key.Namespace)
}

func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }

// sentence says what happened to an object the Kubernetes way:
// `configmap "web" not found in namespace "default"`.
func sentence(key api.Key, what string) string {
	s := describe(api.Key{Kind: key.Kind, Name: key.Name}) + " " + what
	if key.Namespace != "" {
		s += " in namespace " + quote(key.Namespace)
	}
	return s
}

func notFound(key api.Key) *api.Status {
	return api.NewError(api.ReasonNotFound, "%s", sentence(key, "not found"))
}

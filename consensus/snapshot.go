package consensus

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/shoal-dev/shoal/api"
)

// A snapshot stream is JSON lines: one snapshotHeader, then one
// snapshotRecord per object, sorted by kind, namespace and name, so that
// equal stores give equal bytes.
const (
	snapshotFormat  = "shoal-store"
	snapshotVersion = 1
)

type snapshotHeader struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	Index   uint64 `json:"index"`
	Objects int    `json:"objects"`
}

type snapshotRecord struct {
	Kind   string          `json:"kind"`
	Object json.RawMessage `json:"object"`
}

// Snapshot is the content of a store at one index. Taking one copies only
// pointers to the (immutable) objects, so it is quick; writing it out may
// run concurrently with further Applies.
type Snapshot struct {
	index   uint64
	objects []api.Object
}

// Snapshot captures the store's content and index.
func (s *Store) Snapshot() *Snapshot {
	s.mu.RLock()
	defer s.mu.RUnlock()
	objs := make([]api.Object, 0, s.count)
	for _, byNS := range s.objects {
		for _, names := range byNS {
			for _, obj := range names {
				objs = append(objs, obj)
			}
		}
	}
	return &Snapshot{index: s.index, objects: objs}
}

// Index returns the store index the snapshot reflects.
func (sn *Snapshot) Index() uint64 { return sn.index }

// Len returns the number of objects in the snapshot.
func (sn *Snapshot) Len() int { return len(sn.objects) }

// WriteTo writes the snapshot to w as a stream Store.Restore reads. It is
// safe to call more than once, and concurrently.
func (sn *Snapshot) WriteTo(w io.Writer) (int64, error) {
	objs := slices.Clone(sn.objects)
	slices.SortFunc(objs, func(a, b api.Object) int {
		ka, kb := api.KeyOf(a), api.KeyOf(b)
		if c := strings.Compare(ka.Kind, kb.Kind); c != 0 {
			return c
		}
		if c := strings.Compare(ka.Namespace, kb.Namespace); c != 0 {
			return c
		}
		return strings.Compare(ka.Name, kb.Name)
	})
	cw := &countingWriter{w: w}
	bw := bufio.NewWriterSize(cw, 64<<10)
	enc := json.NewEncoder(bw)
	err := enc.Encode(snapshotHeader{Format: snapshotFormat, Version: snapshotVersion, Index: sn.index, Objects: len(objs)})
	for i := 0; err == nil && i < len(objs); i++ {
		var data []byte
		if data, err = json.Marshal(objs[i]); err == nil {
			err = enc.Encode(snapshotRecord{Kind: objs[i].GetTypeMeta().Kind, Object: data})
		}
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return cw.n, fmt.Errorf("consensus: write snapshot at index %d: %w", sn.index, err)
	}
	return cw.n, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Restore replaces the whole content of the store with the snapshot read
// from r, atomically: on error the store is unchanged. The store's index
// becomes the snapshot's, and the event history is dropped, so a watch from
// an older index gets ErrCompacted, and running watches that had not reached
// the snapshot's index end with an EventError. Restore is idempotent.
func (s *Store) Restore(r io.Reader) error {
	index, read, err := readSnapshot(r)
	if err != nil {
		return err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.objects, s.count, s.idx = read.objects, read.count, read.idx
	s.events.reset()
	s.histFrom = index
	s.setIndexLocked(index)
	return nil
}

// readSnapshot parses and checks a whole snapshot stream.
// It returns the objects in a store of their own, indexed.
func readSnapshot(r io.Reader) (index uint64, read *Store, err error) {
	dec := json.NewDecoder(bufio.NewReaderSize(r, 64<<10))
	var h snapshotHeader
	if err := dec.Decode(&h); err != nil {
		return 0, nil, fmt.Errorf("consensus: restore: read the snapshot header: %w", err)
	}
	switch {
	case h.Format != snapshotFormat:
		return 0, nil, fmt.Errorf("consensus: restore: not a shoal store snapshot (format %q, want %q)", h.Format, snapshotFormat)
	case h.Version > snapshotVersion:
		return 0, nil, fmt.Errorf("consensus: restore: snapshot format version %d is newer than this node understands (%d); upgrade this node", h.Version, snapshotVersion)
	case h.Version < 1 || h.Objects < 0:
		return 0, nil, fmt.Errorf("consensus: restore: bad snapshot header (version %d, %d objects)", h.Version, h.Objects)
	}
	tmp := &Store{objects: map[string]map[string]map[string]api.Object{}, idx: newIndexes()}
	for i := range h.Objects {
		var rec snapshotRecord
		if err := dec.Decode(&rec); err != nil {
			return 0, nil, fmt.Errorf("consensus: restore: read object %d of %d: %w", i+1, h.Objects, err)
		}
		obj, err := api.DecodeJSON(rec.Kind, rec.Object)
		if err != nil {
			return 0, nil, fmt.Errorf("consensus: restore: object %d of %d: %w", i+1, h.Objects, err)
		}
		key := api.KeyOf(obj)
		if key.Kind != rec.Kind {
			return 0, nil, fmt.Errorf("consensus: restore: object %d of %d: %s: kind does not match the record's kind %q", i+1, h.Objects, describe(key), rec.Kind)
		}
		if err := checkKey(key); err != nil {
			return 0, nil, fmt.Errorf("consensus: restore: object %d of %d: %w", i+1, h.Objects, err)
		}
		if tmp.lookup(key) != nil {
			return 0, nil, fmt.Errorf("consensus: restore: object %d of %d: %s appears twice", i+1, h.Objects, describe(key))
		}
		tmp.putLocked(key, obj)
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return 0, nil, fmt.Errorf("consensus: restore: the snapshot has more than the %d objects its header announces", h.Objects)
	}
	return h.Index, tmp, nil
}

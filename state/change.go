package state

import (
	"context"
	"strconv"

	"github.com/shoal-dev/shoal/api"
)

// Change is one write to one object, the one type every writer proposes:
// controllers, the scheduler, a node's status reports and the API server.
// Exactly one of Put, Delete and Check is set. consensus encodes a Change
// as an op of a command (consensus.OpOf).
type Change struct {
	// Put stores the object as Mode says. With metadata.resourceVersion set
	// it is a compare-and-set on that version.
	Put api.Object
	// Mode narrows Put; the zero Mode creates or replaces.
	Mode Mode
	// KeepStatus makes a Put of an existing object keep the stored status
	// and system annotations, as they are when the command applies: a
	// user's update replaces what the user owns without racing the
	// controllers that write the status.
	KeepStatus bool

	// Delete removes the object at the key and, in the same command, what
	// it owns (a Namespace: everything in it).
	Delete *api.Key
	// Check changes nothing: it fails the command unless the key exists,
	// so that a write can depend on another object (a new object on its
	// Namespace).
	Check *api.Key
	// ExpectVersion makes Delete and Check a compare-and-set: they fail
	// with a conflict unless the stored object has this resourceVersion.
	// 0 is unconditional.
	ExpectVersion uint64
}

// Mode says what a Put does.
type Mode uint8

const (
	// PutAny creates the object or replaces the stored one.
	PutAny Mode = iota
	// PutCreate creates the object; it fails if the key exists.
	PutCreate
	// PutUpdate replaces the stored object; it fails if the key is missing.
	PutUpdate
	// PutStatus sets only the status of the stored object, keeping the
	// rest. It is skipped, not failed, when the key is missing or holds an
	// object with another uid: the object was deleted or replaced since
	// its status was observed, so one stale pod cannot fail a node's batch
	// of status reports.
	PutStatus
)

// Writer commits changes as one command, all or nothing, and returns once
// the command is committed and this node's replica has applied it.
type Writer interface {
	Commit(ctx context.Context, changes []Change) error
}

// Stale reports whether a commit failed because the state moved since its
// changes were planned: a compare-and-set lost, or an object it depends on
// is gone. A level-triggered writer drops the changes and plans again from
// the newer state; any other error is the writer's to report.
func Stale(err error) bool { return api.IsConflict(err) || api.IsNotFound(err) }

// CommitIndependent commits changes that do not depend on each other, up to
// perCommand of them to a command, and calls committed (if not nil) with
// each group that was committed. A command refused as Stale is split in
// halves, down to single changes; a single stale change is dropped and
// counted. It returns how many were dropped, and stops at the first error
// that is not Stale.
func CommitIndependent(ctx context.Context, w Writer, changes []Change, perCommand int, committed func([]Change)) (dropped int, err error) {
	perCommand = max(1, perCommand)
	for len(changes) > 0 {
		n := min(len(changes), perCommand)
		d, err := commitSplit(ctx, w, changes[:n], committed)
		dropped += d
		if err != nil {
			return dropped, err
		}
		changes = changes[n:]
	}
	return dropped, nil
}

func commitSplit(ctx context.Context, w Writer, changes []Change, committed func([]Change)) (int, error) {
	err := w.Commit(ctx, changes)
	switch {
	case err == nil:
		if committed != nil {
			committed(changes)
		}
		return 0, nil
	case !Stale(err):
		return 0, err
	case len(changes) == 1:
		return 1, nil
	}
	half := len(changes) / 2
	d1, err := commitSplit(ctx, w, changes[:half], committed)
	if err != nil {
		return d1, err
	}
	d2, err := commitSplit(ctx, w, changes[half:], committed)
	return d1 + d2, err
}

// DeleteOf deletes obj's key: a compare-and-set on obj's resourceVersion
// when it has one (a version that is not a number deletes
// unconditionally; the store never hands out such a version).
func DeleteOf(obj api.Object) Change {
	k := api.KeyOf(obj)
	v, _ := strconv.ParseUint(obj.GetObjectMeta().ResourceVersion, 10, 64)
	return Change{Delete: &k, ExpectVersion: v}
}

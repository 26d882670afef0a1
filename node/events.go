package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/state"
)

// EventTTL is how long events are kept after they last happened.
const EventTTL = time.Hour

// RecordEvent stores an event about obj: what the system did and why. The
// same reason and message about the same object again within EventTTL
// bumps the existing event's count instead of adding another. typ is
// "Normal" or "Warning". Safe for concurrent use.
func (a *Agent) RecordEvent(ctx context.Context, obj api.Object, typ, reason, message, component string) error {
	m := obj.GetObjectMeta()
	ns := m.Namespace
	if ns == "" {
		ns = "default"
	}
	sum := sha256.Sum256([]byte(m.UID + "\x00" + reason + "\x00" + message))
	name := m.Name + "." + hex.EncodeToString(sum[:5])
	now := api.NewTime(a.cfg.Clock.Now())
	ev := &api.Event{
		TypeMeta:   api.TypeMeta{APIVersion: "v1", Kind: "Event"},
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: ns},
		InvolvedObject: api.ObjectReference{
			Kind: obj.GetTypeMeta().Kind, APIVersion: obj.GetTypeMeta().APIVersion,
			Namespace: m.Namespace, Name: m.Name, UID: m.UID,
		},
		Reason: reason, Message: message, Type: typ,
		Source:         api.EventSource{Component: component, Host: a.cfg.Name},
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
	}
	mode := state.PutCreate
	if cur, err := a.store.Get(api.KeyOf(ev)); err == nil {
		old := cur.(*api.Event)
		ev.FirstTimestamp, ev.Count = old.FirstTimestamp, old.Count+1
		ev.ResourceVersion = old.ResourceVersion // compare-and-set
		mode = state.PutUpdate
	}
	_, err := a.commitChanges(ctx, state.Change{Put: ev, Mode: mode})
	return err
}

// expireEvents deletes events last seen more than EventTTL before now. The
// leader runs it; deletes go in batches so one command stays small.
func (a *Agent) expireEvents(ctx context.Context, now time.Time) error {
	objs, _ := a.store.List("Event", "")
	var changes []state.Change
	flush := func() error {
		if len(changes) == 0 {
			return nil
		}
		_, err := a.commitChanges(ctx, changes...)
		changes = changes[:0]
		return err
	}
	for _, o := range objs {
		ev := o.(*api.Event)
		last := ev.LastTimestamp
		if last == nil {
			last = ev.CreationTimestamp
		}
		if last != nil && now.Sub(last.Time) < EventTTL {
			continue
		}
		changes = append(changes, state.DeleteOf(ev)) // compare-and-set on its version
		if len(changes) == 500 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// eventGC expires old events once a minute while this node leads.
func (a *Agent) eventGC(ctx context.Context) {
	t := a.cfg.Clock.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		if !a.raft.IsLeader() {
			continue
		}
		if err := a.expireEvents(ctx, a.cfg.Clock.Now()); err != nil && !api.IsConflict(err) {
			a.log.Warn("expiring old events failed; will retry", "err", err)
		}
	}
}

package state_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/state"
)

// casWriter refuses, all or nothing, a command that holds a stale change,
// as the store refuses a lost compare-and-set.
type casWriter struct {
	stale    map[string]bool
	fail     error // returned for any command, if set
	commands [][]string
}

func (w *casWriter) Commit(_ context.Context, changes []state.Change) error {
	if w.fail != nil {
		return w.fail
	}
	var names []string
	for _, c := range changes {
		name := c.Put.GetObjectMeta().Name
		if w.stale[name] {
			return api.NewError(api.ReasonConflict, "%s changed", name)
		}
		names = append(names, name)
	}
	w.commands = append(w.commands, names)
	return nil
}

func puts(n int) []state.Change {
	out := make([]state.Change, n)
	for i := range out {
		cm := &api.ConfigMap{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}}
		cm.Namespace, cm.Name = "default", fmt.Sprintf("c%02d", i)
		out[i] = state.Change{Put: cm}
	}
	return out
}

func TestCommitIndependentDropsOnlyStaleChanges(t *testing.T) {
	w := &casWriter{stale: map[string]bool{"c03": true, "c11": true}}
	var committed int
	dropped, err := state.CommitIndependent(context.Background(), w, puts(20), 8, func(c []state.Change) { committed += len(c) })
	if err != nil {
		t.Fatal(err)
	}
	if dropped != 2 || committed != 18 {
		t.Fatalf("dropped %d and committed %d of 20 with 2 stale, want 2 and 18", dropped, committed)
	}
	for _, cmd := range w.commands {
		if len(cmd) > 8 {
			t.Errorf("a command of %d changes, want at most 8", len(cmd))
		}
	}
	// The last group of 4 (c16..c19) had nothing stale: one command.
	if last := w.commands[len(w.commands)-1]; len(last) != 4 {
		t.Errorf("last command %v, want the 4 fresh changes together", last)
	}
}

func TestCommitIndependentStopsAtOtherErrors(t *testing.T) {
	boom := api.NewError(api.ReasonServiceUnavailable, "no leader")
	w := &casWriter{fail: boom}
	dropped, err := state.CommitIndependent(context.Background(), w, puts(5), 2, nil)
	if !errors.Is(err, boom) || dropped != 0 {
		t.Fatalf("CommitIndependent = %d, %v; want 0 dropped and the writer's error", dropped, err)
	}
}

func TestStale(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{api.NewError(api.ReasonConflict, "x"), true},
		{api.NewError(api.ReasonNotFound, "x"), true},
		{api.NewError(api.ReasonAlreadyExists, "x"), api.IsConflict(api.NewError(api.ReasonAlreadyExists, "x"))},
		{api.NewError(api.ReasonInvalid, "x"), false},
		{errors.New("network"), false},
	} {
		if got := state.Stale(tc.err); got != tc.want {
			t.Errorf("Stale(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestDeleteOfIsACompareAndSetOnTheVersion(t *testing.T) {
	cm := &api.ConfigMap{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}}
	cm.Namespace, cm.Name, cm.ResourceVersion = "default", "c", "42"
	c := state.DeleteOf(cm)
	if c.Delete == nil || *c.Delete != api.KeyOf(cm) || c.ExpectVersion != 42 {
		t.Fatalf("DeleteOf = %+v, want a delete of %s at version 42", c, api.KeyOf(cm))
	}
	cm.ResourceVersion = ""
	if c := state.DeleteOf(cm); c.ExpectVersion != 0 {
		t.Fatalf("DeleteOf without a version expects %d, want 0 (unconditional)", c.ExpectVersion)
	}
}

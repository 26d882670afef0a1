package gossip

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/shoal-dev/shoal/clock"
)

func newTestTable(c clock.Clock) *table {
	return newTable("local", c, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func mlNode(t *testing.T, name, id, session string) *memberlist.Node {
	t.Helper()
	b, err := encodeMeta(Meta{ID: id}, session)
	if err != nil {
		t.Fatal(err)
	}
	return &memberlist.Node{Name: name, Addr: []byte{10, 0, 0, 1}, Port: 7946, Meta: b}
}

func tableState(tb *table, name string) (Member, bool) {
	for _, m := range tb.snapshot() {
		if m.Name == name {
			return m, true
		}
	}
	return Member{}, false
}

func TestTableFailedStaysLeftExpires(t *testing.T) {
	fake := clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	tb := newTestTable(fake)
	tb.NotifyJoin(mlNode(t, "a", "id-a", "s1"))
	tb.NotifyJoin(mlNode(t, "b", "id-b", "s1"))

	fake.Advance(time.Minute)
	failedAt := fake.Now()
	tb.NotifyLeave(mlNode(t, "a", "id-a", "s1"))
	if !tb.markLeft(leaveIntent{Name: "b", ID: "id-b", Session: "s1"}, true) {
		t.Fatal("markLeft on a live, announcing member changed nothing")
	}
	tb.NotifyLeave(mlNode(t, "b", "id-b", "s1"))
	if m, _ := tableState(tb, "a"); m.State != StateFailed || !m.Since.Equal(failedAt) {
		t.Errorf("a = %+v, want failed since %v", m, failedAt)
	}
	if m, _ := tableState(tb, "b"); m.State != StateLeft {
		t.Errorf("b = %+v, want left", m)
	}
	if n := tb.numLive(); n != 0 {
		t.Errorf("numLive = %d", n)
	}

	fake.Advance(LeftRetention)
	if _, ok := tableState(tb, "b"); ok {
		t.Error("left member still there after LeftRetention")
	}
	if m, ok := tableState(tb, "a"); !ok || m.State != StateFailed {
		t.Errorf("failed member dropped or changed: %+v", m)
	}

	// The same name comes back alive, from another ID: it replaces the entry.
	tb.NotifyJoin(mlNode(t, "a", "id-a2", "s2"))
	if m, _ := tableState(tb, "a"); m.State != StateAlive || m.Meta.ID != "id-a2" || !m.Since.Equal(fake.Now()) {
		t.Errorf("a = %+v after coming back", m)
	}
}

func TestTableMarkLeft(t *testing.T) {
	tb := newTestTable(clock.NewFake(time.Now()))
	tb.NotifyJoin(mlNode(t, "a", "id-a", "s1"))
	tb.NotifyLeave(mlNode(t, "a", "id-a", "s1")) // failed: the announcement was missed

	// A stale announcement from another run or ID changes nothing.
	for _, li := range []leaveIntent{
		{Name: "a", ID: "id-a", Session: "old"},
		{Name: "a", ID: "id-x", Session: "s1"},
		{Name: "nobody", ID: "id-a", Session: "s1"},
	} {
		if tb.markLeft(li, false) {
			t.Errorf("markLeft(%+v) changed something", li)
		}
	}
	// A peer's push/pull state says it left: failed becomes left.
	if !tb.markLeft(leaveIntent{Name: "a", ID: "id-a", Session: "s1"}, false) {
		t.Error("markLeft from push/pull state did not turn failed into left")
	}
	if m, _ := tableState(tb, "a"); m.State != StateLeft {
		t.Errorf("a = %+v", m)
	}
	if got := tb.left(); len(got) != 1 || got[0] != (leaveIntent{Name: "a", ID: "id-a", Session: "s1"}) {
		t.Errorf("left() = %+v", got)
	}

	// A peer's (possibly stale) table does not mark a live member.
	tb.NotifyJoin(mlNode(t, "b", "id-b", "s1"))
	if tb.markLeft(leaveIntent{Name: "b", ID: "id-b", Session: "s1"}, false) {
		t.Error("push/pull state marked a live member as leaving")
	}
	tb.NotifyLeave(mlNode(t, "b", "id-b", "s1"))
	if m, _ := tableState(tb, "b"); m.State != StateFailed {
		t.Errorf("b = %+v, want failed", m)
	}

	// The local node leaving is a leave.
	tb.NotifyJoin(mlNode(t, "local", "id-l", "s1"))
	tb.NotifyLeave(mlNode(t, "local", "id-l", "s1"))
	if m, _ := tableState(tb, "local"); m.State != StateLeft {
		t.Errorf("local = %+v, want left", m)
	}
}

func TestTableSubscribe(t *testing.T) {
	tb := newTestTable(clock.NewFake(time.Now()))
	ch, cancel := tb.subscribe()
	ch2, cancel2 := tb.subscribe()
	defer cancel2()
	tb.NotifyJoin(mlNode(t, "a", "id-a", "s"))
	tb.NotifyUpdate(mlNode(t, "a", "id-a", "s"))
	tb.NotifyLeave(mlNode(t, "a", "id-a", "s"))
	for i, c := range []<-chan struct{}{ch, ch2} {
		select {
		case <-c:
		default:
			t.Errorf("subscriber %d not notified", i)
		}
		select {
		case <-c:
			t.Errorf("subscriber %d: notifications not coalesced", i)
		default:
		}
	}
	cancel()
	cancel() // idempotent
	tb.forget("a")
	select {
	case <-ch:
		t.Error("notified after cancel")
	default:
	}
	select {
	case <-ch2:
	default:
		t.Error("Forget did not notify")
	}
}

func TestPruneLoopDropsLeftMembers(t *testing.T) {
	fake := clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	n1 := startNode(t, "n1", func(c *Config) { c.Clock = fake })
	n2 := startNode(t, "n2")
	mustJoin(t, n2, n1)
	waitFor(t, "n1 to see n2", func() bool { return n1.NumAlive() == 2 })
	if err := n2.Leave(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	n2.Shutdown()
	waitFor(t, "n1 to see n2 left", func() bool { return stateOf(n1, "n2") == StateLeft })
	if m, _ := member(n1, "n2"); !m.Since.Equal(fake.Now()) {
		t.Errorf("left Since = %v, want the fake clock's %v", m.Since, fake.Now())
	}

	ch, cancel := n1.Subscribe()
	defer cancel()
	fake.Advance(LeftRetention)
	// The prune loop, not a read, drops it: wait for its notification.
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("no notification after LeftRetention")
	}
	if _, ok := member(n1, "n2"); ok {
		t.Errorf("n2 still there: %s", dump(n1))
	}
}

package clock

import (
	"testing"
	"time"
)

// contract is what every Clock must do; it runs against Real and Fake.
func contract(t *testing.T, c Clock, advance func(time.Duration)) {
	t.Run("After fires once the duration has passed", func(t *testing.T) {
		start := c.Now()
		ch := c.After(20 * time.Millisecond)
		advance(20 * time.Millisecond)
		select {
		case at := <-ch:
			if at.Sub(start) < 20*time.Millisecond {
				t.Fatalf("After fired at +%v, before its duration", at.Sub(start))
			}
		case <-time.After(5 * time.Second):
			t.Fatal("After never fired")
		}
	})
	t.Run("a ticker fires repeatedly and stops", func(t *testing.T) {
		tk := c.NewTicker(10 * time.Millisecond)
		for i := range 3 {
			advance(10 * time.Millisecond)
			select {
			case <-tk.C():
			case <-time.After(5 * time.Second):
				t.Fatalf("tick %d never came", i)
			}
		}
		tk.Stop()
	})
	t.Run("Now does not go backwards", func(t *testing.T) {
		a := c.Now()
		advance(time.Millisecond)
		if b := c.Now(); b.Before(a) {
			t.Fatalf("Now went from %v to %v", a, b)
		}
	})
}

func TestRealClockContract(t *testing.T) {
	contract(t, Real{}, func(time.Duration) {})
}

func TestFakeClockContract(t *testing.T) {
	f := NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	contract(t, f, f.Advance)
}

func TestFakeClockOnlyMovesWhenAdvanced(t *testing.T) {
	f := NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	ch := f.After(time.Second)
	f.Advance(999 * time.Millisecond)
	select {
	case <-ch:
		t.Fatal("After fired early")
	default:
	}
	if f.Waiters() != 1 {
		t.Fatalf("Waiters = %d, want 1", f.Waiters())
	}
	f.Advance(time.Millisecond)
	select {
	case <-ch:
	default:
		t.Fatal("After did not fire on time")
	}
}

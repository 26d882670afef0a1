package api

import (
	"strings"
	"testing"
	"time"
)

func TestScheduleNext(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse("2006-01-02 15:04:05 Mon", s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct{ spec, from, want string }{
		{"*/1 * * * *", "2026-03-04 10:20:30 Wed", "2026-03-04 10:21:00 Wed"},
		{"* * * * *", "2026-03-04 10:20:00 Wed", "2026-03-04 10:21:00 Wed"}, // strictly after
		{"0 2 * * *", "2026-03-04 10:20:00 Wed", "2026-03-05 02:00:00 Thu"},
		{"0 2 * * *", "2026-03-04 01:59:59 Wed", "2026-03-04 02:00:00 Wed"},
		{"*/15 * * * *", "2026-03-04 10:46:00 Wed", "2026-03-04 11:00:00 Wed"},
		{"5/15 * * * *", "2026-03-04 10:21:00 Wed", "2026-03-04 10:35:00 Wed"},
		{"10-50/20 9-17 * * mon-fri", "2026-03-06 17:51:00 Fri", "2026-03-09 09:10:00 Mon"},
		{"0 0 1,15 * *", "2026-03-02 00:00:00 Mon", "2026-03-15 00:00:00 Sun"},
		{"0 0 * * SUN", "2026-03-04 00:00:00 Wed", "2026-03-08 00:00:00 Sun"},
		{"0 12 * JAN-MAR,dec *", "2026-04-01 00:00:00 Wed", "2026-12-01 12:00:00 Tue"},
		{"0 0 13 * 5", "2026-03-01 00:00:00 Sun", "2026-03-06 00:00:00 Fri"}, // dom or dow
		{"0 0 29 2 *", "2026-03-01 00:00:00 Sun", "2028-02-29 00:00:00 Tue"},
		{"30 23 31 * *", "2026-04-01 00:00:00 Wed", "2026-05-31 23:30:00 Sun"},
		{"0 0 ? * 1", "2026-03-04 00:00:00 Wed", "2026-03-09 00:00:00 Mon"},
		{"@hourly", "2026-03-04 10:20:00 Wed", "2026-03-04 11:00:00 Wed"},
		{"@daily", "2026-03-04 10:20:00 Wed", "2026-03-05 00:00:00 Thu"},
		{"@midnight", "2026-03-04 10:20:00 Wed", "2026-03-05 00:00:00 Thu"},
		{"@weekly", "2026-03-04 10:20:00 Wed", "2026-03-08 00:00:00 Sun"},
		{"@monthly", "2026-03-04 10:20:00 Wed", "2026-04-01 00:00:00 Wed"},
		{"@yearly", "2026-03-04 10:20:00 Wed", "2027-01-01 00:00:00 Fri"},
		{"@annually", "2026-12-31 23:59:59 Thu", "2027-01-01 00:00:00 Fri"},
	} {
		s, err := ParseSchedule(c.spec)
		if err != nil {
			t.Errorf("ParseSchedule(%q): %v", c.spec, err)
			continue
		}
		if got := s.Next(at(c.from)).Format("2006-01-02 15:04:05 Mon"); got != c.want {
			t.Errorf("%q.Next(%s) = %s, want %s", c.spec, c.from, got, c.want)
		}
	}
	never, _ := ParseSchedule("0 0 30 2 *")
	if got := never.Next(at("2026-01-01 00:00:00 Thu")); !got.IsZero() {
		t.Errorf("Feb 30 fired at %v", got)
	}
}

func TestScheduleTimeZone(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := ParseSchedule("0 2 * * *")
	// 2026-03-29: clocks in Berlin jump from 02:00 to 03:00, so there is no 02:00.
	from := time.Date(2026, 3, 28, 12, 0, 0, 0, time.UTC).In(berlin)
	next := s.Next(from)
	if next.Location() != berlin || next.Day() != 30 || next.Hour() != 2 {
		t.Errorf("Next across DST = %v", next)
	}
	n2 := s.Next(time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC).In(berlin))
	if !n2.Equal(time.Date(2026, 6, 2, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("02:00 Berlin in summer = %v, want 00:00 UTC", n2.UTC())
	}
}

func TestParseScheduleErrors(t *testing.T) {
	for _, c := range []struct{ spec, want string }{
		{"", "empty schedule"},
		{"0 2 * *", "expected 5 fields (minute hour day-of-month month day-of-week), found 4"},
		{"0 0 2 * * *", "found 6"},
		{"60 * * * *", `minute field "60": 60 is above the maximum 59`},
		{"* 24 * * *", `hour field "24": 24 is above the maximum 23`},
		{"* * 0 * *", `day of month field "0": 0 is below the minimum 1`},
		{"* * * 13 *", `month field "13": 13 is above the maximum 12`},
		{"* * * * 7", `day of week field "7": 7 is above the maximum 6`},
		{"5-1 * * * *", "range start 5 is after its end 1"},
		{"*/0 * * * *", "a step must be a positive number"},
		{"*/x * * * *", `step "x" is not a positive number`},
		{"1-2-3 * * * *", "too many hyphens"},
		{"1/2/3 * * * *", "too many slashes"},
		{"* * * foo *", `"foo" is neither a number from 1 to 12 nor a name such as jan`},
		{"a * * * *", `"a" is not a number from 0 to 59`},
		{"@every 5m", "unknown descriptor"},
		{"@reboot", "unknown descriptor"},
	} {
		_, err := ParseSchedule(c.spec)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseSchedule(%q) = %v, want %q", c.spec, err, c.want)
		}
	}
}

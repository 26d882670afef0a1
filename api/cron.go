package api

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Schedule is a parsed CronJob schedule: five fields (minute, hour, day of
// month, month, day of week) or a descriptor such as @daily. It follows the
// parser Kubernetes uses (robfig/cron's standard parser): lists (1,15),
// ranges (1-5), steps (*/15, 10-50/20, 5/15), month and weekday names
// (jan, mon), '?' for '*', day of week 0-6 with 0 Sunday, and "either
// matches" when both day fields are restricted. A Schedule is immutable.
type Schedule struct {
	minute, hour, dom, month, dow uint64
	spec                          string
}

const starBit = 1 << 63

type cronBounds struct {
	name     string
	min, max uint
	names    map[string]uint
}

var cronFields = []cronBounds{
	{name: "minute", min: 0, max: 59},
	{name: "hour", min: 0, max: 23},
	{name: "day of month", min: 1, max: 31},
	{name: "month", min: 1, max: 12, names: map[string]uint{
		"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
		"jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12}},
	{name: "day of week", min: 0, max: 6, names: map[string]uint{
		"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}},
}

var cronDescriptors = map[string]string{
	"@yearly":   "0 0 1 1 *",
	"@annually": "0 0 1 1 *",
	"@monthly":  "0 0 1 * *",
	"@weekly":   "0 0 * * 0",
	"@daily":    "0 0 * * *",
	"@midnight": "0 0 * * *",
	"@hourly":   "0 * * * *",
}

// ParseSchedule parses a CronJob schedule. The error says what is wrong
// and what the fields are.
func ParseSchedule(spec string) (Schedule, error) {
	s := strings.TrimSpace(spec)
	if s == "" {
		return Schedule{}, fmt.Errorf("empty schedule (try \"*/5 * * * *\" or \"@hourly\")")
	}
	if strings.HasPrefix(s, "@") {
		expanded, ok := cronDescriptors[s]
		if !ok {
			return Schedule{}, fmt.Errorf("unknown descriptor %q (use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)", s)
		}
		s = expanded
	}
	fields := strings.Fields(s)
	if len(fields) != 5 {
		return Schedule{}, fmt.Errorf("expected 5 fields (minute hour day-of-month month day-of-week), found %d", len(fields))
	}
	var bits [5]uint64
	for i, f := range fields {
		b, err := parseCronField(f, cronFields[i])
		if err != nil {
			return Schedule{}, fmt.Errorf("%s field %q: %v", cronFields[i].name, f, err)
		}
		bits[i] = b
	}
	return Schedule{minute: bits[0], hour: bits[1], dom: bits[2], month: bits[3], dow: bits[4], spec: spec}, nil
}

// String returns the schedule as written.
func (s Schedule) String() string { return s.spec }

func parseCronField(field string, b cronBounds) (uint64, error) {
	var bits uint64
	for _, expr := range strings.Split(field, ",") {
		r, err := parseCronRange(expr, b)
		if err != nil {
			return 0, err
		}
		bits |= r
	}
	return bits, nil
}

func parseCronRange(expr string, b cronBounds) (uint64, error) {
	rangeAndStep := strings.Split(expr, "/")
	lowHigh := strings.Split(rangeAndStep[0], "-")
	single := len(lowHigh) == 1
	var start, end, step uint = 0, 0, 1
	var extra uint64
	var err error
	if lowHigh[0] == "*" || lowHigh[0] == "?" {
		if !single {
			return 0, fmt.Errorf("'*' cannot start a range")
		}
		start, end, extra = b.min, b.max, starBit
	} else {
		if start, err = cronValue(lowHigh[0], b); err != nil {
			return 0, err
		}
		switch len(lowHigh) {
		case 1:
			end = start
		case 2:
			if end, err = cronValue(lowHigh[1], b); err != nil {
				return 0, err
			}
		default:
			return 0, fmt.Errorf("too many hyphens in %q", expr)
		}
	}
	switch len(rangeAndStep) {
	case 1:
	case 2:
		n, err := strconv.ParseUint(rangeAndStep[1], 10, 8)
		if err != nil {
			return 0, fmt.Errorf("step %q is not a positive number", rangeAndStep[1])
		}
		step = uint(n)
		if single {
			end = b.max // "N/step" means "N-max/step"
		}
		if step > 1 {
			extra = 0
		}
	default:
		return 0, fmt.Errorf("too many slashes in %q", expr)
	}
	switch {
	case start < b.min:
		return 0, fmt.Errorf("%d is below the minimum %d", start, b.min)
	case end > b.max:
		return 0, fmt.Errorf("%d is above the maximum %d", end, b.max)
	case start > end:
		return 0, fmt.Errorf("range start %d is after its end %d", start, end)
	case step == 0:
		return 0, fmt.Errorf("a step must be a positive number")
	}
	var bits uint64
	for i := start; i <= end; i += step {
		bits |= 1 << i
	}
	return bits | extra, nil
}

func cronValue(s string, b cronBounds) (uint, error) {
	if v, ok := b.names[strings.ToLower(s)]; ok {
		return v, nil
	}
	n, err := strconv.ParseUint(s, 10, 8)
	if err != nil {
		if b.names != nil {
			return 0, fmt.Errorf("%q is neither a number from %d to %d nor a name such as %s", s, b.min, b.max, exampleName(b))
		}
		return 0, fmt.Errorf("%q is not a number from %d to %d", s, b.min, b.max)
	}
	return uint(n), nil
}

func exampleName(b cronBounds) string {
	if b.max == 12 {
		return "jan"
	}
	return "mon"
}

// Next returns the first activation strictly after t, in t's location
// (call it with t.In(loc) for a CronJob's timeZone). It returns the zero
// time if the schedule never fires within five years (such as Feb 30).
func (s Schedule) Next(t time.Time) time.Time {
	if s.minute == 0 {
		return time.Time{} // the zero Schedule never fires
	}
	loc := t.Location()
	// Start at the next whole minute.
	t = t.Add(time.Minute - time.Duration(t.Second())*time.Second - time.Duration(t.Nanosecond()))
	added := false
	yearLimit := t.Year() + 5
wrap:
	if t.Year() > yearLimit {
		return time.Time{}
	}
	for 1<<uint(t.Month())&s.month == 0 {
		if !added {
			added = true
			t = time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, loc)
		}
		t = t.AddDate(0, 1, 0)
		if t.Month() == time.January {
			goto wrap
		}
	}
	for !s.dayMatches(t) {
		if !added {
			added = true
			t = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
		}
		t = t.AddDate(0, 0, 1)
		// A DST change may have moved midnight; correct it.
		if t.Hour() != 0 {
			if t.Hour() > 12 {
				t = t.Add(time.Duration(24-t.Hour()) * time.Hour)
			} else {
				t = t.Add(time.Duration(-t.Hour()) * time.Hour)
			}
		}
		if t.Day() == 1 {
			goto wrap
		}
	}
	for 1<<uint(t.Hour())&s.hour == 0 {
		if !added {
			added = true
			t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), 0, 0, 0, loc)
		}
		t = t.Add(time.Hour)
		if t.Hour() == 0 {
			goto wrap
		}
	}
	for 1<<uint(t.Minute())&s.minute == 0 {
		if !added {
			added = true
			t = t.Truncate(time.Minute)
		}
		t = t.Add(time.Minute)
		if t.Minute() == 0 {
			goto wrap
		}
	}
	return t
}

func (s Schedule) dayMatches(t time.Time) bool {
	domMatch := 1<<uint(t.Day())&s.dom > 0
	dowMatch := 1<<uint(t.Weekday())&s.dow > 0
	if s.dom&starBit > 0 || s.dow&starBit > 0 {
		return domMatch && dowMatch
	}
	return domMatch || dowMatch
}

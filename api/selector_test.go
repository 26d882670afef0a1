package api

import (
	"strings"
	"testing"
)

func TestParseSelector(t *testing.T) {
	labels := map[string]string{"app": "web", "tier": "front", "env": "a", "x": "", "rev": "7"}
	for _, c := range []struct {
		in, canonical string
		match         bool
	}{
		{"", "", true},
		{"app=web", "app=web", true},
		{"app==web", "app==web", true},
		{"app = web ,tier!=db", "app=web,tier!=db", true},
		{"app=web,tier!=db,env in (a,b),!missing,x", "app=web,env in (a,b),!missing,tier!=db,x", true},
		{"env in (b, c)", "env in (b,c)", false},
		{"env notin (b,c)", "env notin (b,c)", true},
		{"missing notin (a)", "missing notin (a)", true},
		{"missing!=a", "missing!=a", true},
		{"!app", "!app", false},
		{"missing", "missing", false},
		{"x=", "x=", true},
		{"rev>5,rev<8", "rev>5,rev<8", true},
		{"rev>7", "rev>7", false},
		{"app>1", "app>1", false},
		{"example.com/role=db", "example.com/role=db", false},
		{"env in (a,)", "env in (,a)", true},
	} {
		s, err := ParseSelector(c.in)
		if err != nil {
			t.Errorf("ParseSelector(%q): %v", c.in, err)
			continue
		}
		if got := s.String(); got != c.canonical {
			t.Errorf("ParseSelector(%q).String() = %q, want %q", c.in, got, c.canonical)
		}
		if got := s.Matches(labels); got != c.match {
			t.Errorf("ParseSelector(%q).Matches = %v, want %v", c.in, got, c.match)
		}
		back, err := ParseSelector(s.String())
		if err != nil || back.String() != s.String() {
			t.Errorf("%q does not round-trip: %q %v", c.in, back.String(), err)
		}
	}
	for _, c := range []struct{ in, want string }{
		{"app=web,", "expected a label key"},
		{"env in (a", "missing ')'"},
		{"env in ()", "needs at least one value"},
		{"env in a", "expected '(' after"},
		{"app=web tier=db", "expected ',' or the end"},
		{"a b", "expected one of"},
		{"rev>x", "is not an integer"},
		{"App Name=x", "expected one of"},
		{"-bad=x", "name part must consist of"},
		{"app=-bad", "a label value must be empty"},
		{"a/b/c=x", "at most one '/'"},
		{"!", "expected a label key after '!'"},
		{"(", "expected a label key"},
	} {
		_, err := ParseSelector(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "invalid label selector") {
			t.Errorf("ParseSelector(%q) = %v, want an error containing %q", c.in, err, c.want)
		}
	}
}

func TestLabelSelector(t *testing.T) {
	web := map[string]string{"app": "web", "tier": "front"}
	var nilSel *LabelSelector
	if nilSel.Matches(web) {
		t.Error("a nil selector matched")
	}
	if !(&LabelSelector{}).Matches(web) {
		t.Error("an empty selector did not match")
	}
	sel := &LabelSelector{
		MatchLabels: map[string]string{"app": "web"},
		MatchExpressions: []LabelSelectorRequirement{
			{Key: "tier", Operator: LabelSelectorOpIn, Values: []string{"front", "back"}},
			{Key: "canary", Operator: LabelSelectorOpDoesNotExist},
		},
	}
	if !sel.Matches(web) || sel.Matches(map[string]string{"app": "web", "tier": "db"}) || sel.Matches(map[string]string{"app": "web", "tier": "front", "canary": "1"}) {
		t.Error("matchLabels + matchExpressions")
	}
	s, err := sel.AsSelector()
	if err != nil || s.String() != "app=web,!canary,tier in (back,front)" {
		t.Errorf("AsSelector = %q, %v", s.String(), err)
	}
	bad := &LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "a", Operator: "Equals", Values: []string{"x"}}}}
	if _, err := bad.AsSelector(); err == nil || bad.Matches(web) {
		t.Error("bad operator accepted")
	}
	if !SelectorFromSet(web).Matches(map[string]string{"app": "web", "tier": "front", "more": "x"}) || SelectorFromSet(web).Matches(map[string]string{"app": "web"}) {
		t.Error("SelectorFromSet")
	}
	if Nothing().Matches(nil) || !Everything().Matches(nil) || !Everything().Empty() || Nothing().Empty() {
		t.Error("Everything/Nothing")
	}
}

package api

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// LabelSelector selects objects by their labels, as in Kubernetes: every
// matchLabels pair and every matchExpressions requirement must hold. A nil
// selector matches nothing; an empty one matches everything.
type LabelSelector struct {
	MatchLabels      map[string]string          `json:"matchLabels,omitempty"`
	MatchExpressions []LabelSelectorRequirement `json:"matchExpressions,omitempty"`
}

// LabelSelectorOperator is the operator of a matchExpressions requirement.
type LabelSelectorOperator string

const (
	LabelSelectorOpIn           LabelSelectorOperator = "In"
	LabelSelectorOpNotIn        LabelSelectorOperator = "NotIn"
	LabelSelectorOpExists       LabelSelectorOperator = "Exists"
	LabelSelectorOpDoesNotExist LabelSelectorOperator = "DoesNotExist"
)

// LabelSelectorRequirement is one matchExpressions entry.
type LabelSelectorRequirement struct {
	Key      string                `json:"key"`
	Operator LabelSelectorOperator `json:"operator"`
	Values   []string              `json:"values,omitempty"`
}

// Matches reports whether labels satisfy the selector. A nil or invalid
// selector matches nothing.
func (ls *LabelSelector) Matches(labels map[string]string) bool {
	s, err := ls.AsSelector()
	return err == nil && s.Matches(labels)
}

// AsSelector converts ls into a Selector. A nil ls gives Nothing().
func (ls *LabelSelector) AsSelector() (Selector, error) {
	if ls == nil {
		return Nothing(), nil
	}
	var reqs []Requirement
	for k, v := range ls.MatchLabels {
		reqs = append(reqs, Requirement{Key: k, Operator: OpEquals, Values: []string{v}})
	}
	for _, e := range ls.MatchExpressions {
		var op Operator
		switch e.Operator {
		case LabelSelectorOpIn:
			op = OpIn
		case LabelSelectorOpNotIn:
			op = OpNotIn
		case LabelSelectorOpExists:
			op = OpExists
		case LabelSelectorOpDoesNotExist:
			op = OpDoesNotExist
		default:
			return Selector{}, fmt.Errorf("%q is not a valid selector operator (use In, NotIn, Exists or DoesNotExist)", e.Operator)
		}
		reqs = append(reqs, Requirement{Key: e.Key, Operator: op, Values: append([]string(nil), e.Values...)})
	}
	for _, r := range reqs {
		if err := r.check(); err != nil {
			return Selector{}, err
		}
	}
	return newSelector(reqs), nil
}

// Operator is the operator of a parsed selector requirement, spelled as
// Kubernetes spells it.
type Operator string

const (
	OpEquals       Operator = "="
	OpDoubleEquals Operator = "=="
	OpNotEquals    Operator = "!="
	OpIn           Operator = "in"
	OpNotIn        Operator = "notin"
	OpExists       Operator = "exists"
	OpDoesNotExist Operator = "!"
	OpGreaterThan  Operator = "gt"
	OpLessThan     Operator = "lt"
)

// Requirement is one condition of a Selector.
type Requirement struct {
	Key      string
	Operator Operator
	Values   []string // sorted
}

func (r Requirement) check() error {
	if msgs := qualifiedNameErrors(r.Key); len(msgs) > 0 {
		return fmt.Errorf("key %q: %s", r.Key, msgs[0])
	}
	switch r.Operator {
	case OpEquals, OpDoubleEquals, OpNotEquals:
		if len(r.Values) != 1 {
			return fmt.Errorf("key %q: exactly one value is required for %q", r.Key, r.Operator)
		}
	case OpIn, OpNotIn:
		if len(r.Values) == 0 {
			return fmt.Errorf("key %q: operator %s needs at least one value", r.Key, r.Operator)
		}
	case OpExists, OpDoesNotExist:
		if len(r.Values) != 0 {
			return fmt.Errorf("key %q: values may not be given for operator %s", r.Key, r.Operator)
		}
	case OpGreaterThan, OpLessThan:
		if len(r.Values) != 1 {
			return fmt.Errorf("key %q: exactly one value is required for %s", r.Key, r.Operator)
		}
		if _, err := strconv.ParseInt(r.Values[0], 10, 64); err != nil {
			return fmt.Errorf("key %q: %q is not an integer, as %s needs", r.Key, r.Values[0], r.Operator)
		}
		return nil
	default:
		return fmt.Errorf("key %q: unknown operator %q", r.Key, r.Operator)
	}
	for _, v := range r.Values {
		if msg := labelValueError(v); msg != "" {
			return fmt.Errorf("key %q: value %q: %s", r.Key, v, msg)
		}
	}
	return nil
}

// Matches reports whether labels satisfy r.
func (r Requirement) Matches(labels map[string]string) bool {
	v, ok := labels[r.Key]
	switch r.Operator {
	case OpEquals, OpDoubleEquals, OpIn:
		return ok && contains(r.Values, v)
	case OpNotEquals, OpNotIn:
		return !ok || !contains(r.Values, v)
	case OpExists:
		return ok
	case OpDoesNotExist:
		return !ok
	case OpGreaterThan, OpLessThan:
		if !ok || len(r.Values) != 1 {
			return false
		}
		have, err1 := strconv.ParseInt(v, 10, 64)
		want, err2 := strconv.ParseInt(r.Values[0], 10, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		if r.Operator == OpGreaterThan {
			return have > want
		}
		return have < want
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// String writes r in selector syntax.
func (r Requirement) String() string {
	switch r.Operator {
	case OpExists:
		return r.Key
	case OpDoesNotExist:
		return "!" + r.Key
	case OpIn, OpNotIn:
		return r.Key + " " + string(r.Operator) + " (" + strings.Join(r.Values, ",") + ")"
	case OpGreaterThan:
		return r.Key + ">" + strings.Join(r.Values, "")
	case OpLessThan:
		return r.Key + "<" + strings.Join(r.Values, "")
	}
	return r.Key + string(r.Operator) + strings.Join(r.Values, "")
}

// Selector is a parsed label selector: every requirement must hold. The
// zero Selector matches everything. Selectors are immutable values.
type Selector struct {
	reqs    []Requirement
	nothing bool
}

// Everything returns a selector that matches every object.
func Everything() Selector { return Selector{} }

// Nothing returns a selector that matches no object.
func Nothing() Selector { return Selector{nothing: true} }

// SelectorFromSet returns a selector requiring every label in set.
func SelectorFromSet(set map[string]string) Selector {
	var reqs []Requirement
	for k, v := range set {
		reqs = append(reqs, Requirement{Key: k, Operator: OpEquals, Values: []string{v}})
	}
	return newSelector(reqs)
}

func newSelector(reqs []Requirement) Selector {
	for i := range reqs {
		sort.Strings(reqs[i].Values)
	}
	sort.SliceStable(reqs, func(i, j int) bool { return reqs[i].Key < reqs[j].Key })
	return Selector{reqs: reqs}
}

// Matches reports whether labels satisfy every requirement.
func (s Selector) Matches(labels map[string]string) bool {
	if s.nothing {
		return false
	}
	for _, r := range s.reqs {
		if !r.Matches(labels) {
			return false
		}
	}
	return true
}

// Empty reports whether s matches everything.
func (s Selector) Empty() bool { return !s.nothing && len(s.reqs) == 0 }

// Requirements returns a copy of the requirements, sorted by key.
func (s Selector) Requirements() []Requirement { return append([]Requirement(nil), s.reqs...) }

// String writes s in selector syntax; Everything() is "".
func (s Selector) String() string {
	parts := make([]string, len(s.reqs))
	for i, r := range s.reqs {
		parts[i] = r.String()
	}
	return strings.Join(parts, ",")
}

// ParseSelector parses a label selector as kubectl -l and the API's
// labelSelector parameter take it: comma-separated requirements of the
// forms key=value, key==value, key!=value, key in (a,b), key notin (a,b),
// key (exists), !key (does not exist), key>1 and key<1. An empty string
// selects everything.
func ParseSelector(s string) (Selector, error) {
	p := &selParser{in: s}
	reqs, err := p.parse()
	if err != nil {
		return Selector{}, fmt.Errorf("invalid label selector %q: %w", s, err)
	}
	return newSelector(reqs), nil
}

type selParser struct {
	in  string
	pos int
}

const selSpecial = "!=(),<>"

// next returns the next token: an operator or punctuation, an identifier,
// or "" at the end.
func (p *selParser) next() (tok string, ident bool) {
	for p.pos < len(p.in) && isSpace(p.in[p.pos]) {
		p.pos++
	}
	if p.pos >= len(p.in) {
		return "", false
	}
	c := p.in[p.pos]
	if strings.IndexByte(selSpecial, c) >= 0 {
		if (c == '!' || c == '=') && p.pos+1 < len(p.in) && p.in[p.pos+1] == '=' {
			p.pos += 2
			return p.in[p.pos-2 : p.pos], false
		}
		p.pos++
		return string(c), false
	}
	start := p.pos
	for p.pos < len(p.in) && !isSpace(p.in[p.pos]) && strings.IndexByte(selSpecial, p.in[p.pos]) < 0 {
		p.pos++
	}
	return p.in[start:p.pos], true
}

func (p *selParser) peek() (string, bool) {
	save := p.pos
	tok, id := p.next()
	p.pos = save
	return tok, id
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (p *selParser) parse() ([]Requirement, error) {
	if strings.TrimSpace(p.in) == "" {
		return nil, nil
	}
	var reqs []Requirement
	for {
		r, err := p.requirement()
		if err != nil {
			return nil, err
		}
		if err := r.check(); err != nil {
			return nil, err
		}
		reqs = append(reqs, r)
		tok, _ := p.next()
		switch tok {
		case "":
			return reqs, nil
		case ",":
		default:
			return nil, fmt.Errorf("expected ',' or the end after %q, found %q", r.String(), tok)
		}
	}
}

func (p *selParser) requirement() (Requirement, error) {
	tok, ident := p.next()
	if tok == "!" {
		key, ident := p.next()
		if !ident {
			return Requirement{}, fmt.Errorf("expected a label key after '!'")
		}
		return Requirement{Key: key, Operator: OpDoesNotExist}, nil
	}
	if !ident {
		return Requirement{}, fmt.Errorf("expected a label key, found %q", tok)
	}
	key := tok
	op, opIdent := p.peek()
	if op == "" || op == "," {
		return Requirement{Key: key, Operator: OpExists}, nil
	}
	p.next()
	switch {
	case op == "=" || op == "==" || op == "!=":
		v, vIdent := p.peek()
		if vIdent {
			p.next()
		} else {
			v = "" // "key=" selects an empty value
		}
		return Requirement{Key: key, Operator: Operator(op), Values: []string{v}}, nil
	case op == ">" || op == "<":
		v, vIdent := p.next()
		if !vIdent {
			return Requirement{}, fmt.Errorf("expected an integer after %q%s", key, op)
		}
		o := OpGreaterThan
		if op == "<" {
			o = OpLessThan
		}
		return Requirement{Key: key, Operator: o, Values: []string{v}}, nil
	case opIdent && (op == "in" || op == "notin"):
		if t, _ := p.next(); t != "(" {
			return Requirement{}, fmt.Errorf("expected '(' after %q %s", key, op)
		}
		values, err := p.values()
		if err != nil {
			return Requirement{}, err
		}
		return Requirement{Key: key, Operator: Operator(op), Values: values}, nil
	}
	return Requirement{}, fmt.Errorf("expected one of '=', '==', '!=', 'in', 'notin', '>', '<' or ',' after %q, found %q", key, op)
}

func (p *selParser) values() ([]string, error) {
	var out []string
	cur, have := "", false
	for {
		tok, ident := p.next()
		switch {
		case ident:
			if have {
				return nil, fmt.Errorf("expected ',' or ')' after %q, found %q", cur, tok)
			}
			cur, have = tok, true
		case tok == ",":
			out = append(out, cur)
			cur, have = "", false
		case tok == ")":
			if have || len(out) > 0 {
				out = append(out, cur)
			}
			return out, nil
		case tok == "":
			return nil, fmt.Errorf("missing ')'")
		default:
			return nil, fmt.Errorf("unexpected %q in a list of values", tok)
		}
	}
}

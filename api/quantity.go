package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
)

// Format is how a Quantity prints: with decimal SI suffixes (m, k, M, G),
// binary SI suffixes (Ki, Mi, Gi) or a decimal exponent (1e3). A parsed
// Quantity keeps the format its suffix implied, as Kubernetes does.
type Format string

const (
	DecimalExponent Format = "DecimalExponent" // 12e6
	BinarySI        Format = "BinarySI"        // 12Mi
	DecimalSI       Format = "DecimalSI"       // 12M, 500m
)

// Quantity is a fixed-point number with a suffix, as Kubernetes writes
// resource amounts: "500m", "1.5", "2Gi", "1e3". It has nano precision
// (smaller non-zero amounts round up to 1n, away from zero) and its
// magnitude is capped at 2^63-1, as in Kubernetes.
//
// String returns the canonical form ("1.5" prints as "1500m", "1024Mi" as
// "1Gi"). JSON is a string; decoding also takes a JSON number.
//
// Text that is not a quantity is a decode error that says what to write
// instead: "2 cores" is not a quantity (try "2" or "2000m"). The zero
// Quantity is 0. A Quantity is an immutable value, safe to copy and share.
// Compare amounts with Cmp or Equal, not ==.
type Quantity struct {
	nanos *big.Int // the value in units of 1e-9; nil is zero; never mutated
	// Format is the suffix family String uses.
	Format Format
}

var (
	bigOne      = big.NewInt(1)
	bigTen      = big.NewInt(10)
	bigNano     = big.NewInt(1e9)
	bigMilli    = big.NewInt(1e6) // nanos per milli
	bigMaxNanos = new(big.Int).Mul(big.NewInt(math.MaxInt64), bigNano)
)

// ParseQuantity parses s as Kubernetes does. It accepts an optional sign,
// a decimal number, and one suffix: n u m "" k M G T P E (decimal SI),
// Ki Mi Gi Ti Pi Ei (binary SI) or an exponent e3, E-3, e+6.
func ParseQuantity(s string) (Quantity, error) {
	if s == "" {
		return Quantity{}, quantityError(s)
	}
	positive, num, denom, suffix, ok := splitQuantity(s)
	if !ok {
		return Quantity{}, quantityError(s)
	}
	base, exp, format, ok := interpretSuffix(suffix)
	if !ok {
		return Quantity{}, quantityError(s)
	}
	mant, ok := new(big.Int).SetString(num+denom, 10)
	if !ok {
		return Quantity{}, quantityError(s)
	}
	nanos := new(big.Int)
	if mant.Sign() != 0 {
		// value = mant * 10^-len(denom) * base^exp; nanos = value * 10^9.
		numer := new(big.Int).Mul(mant, bigNano)
		den := new(big.Int).Exp(bigTen, big.NewInt(int64(len(denom))), nil)
		switch {
		case base == 2:
			numer.Lsh(numer, uint(exp))
		case exp > 40:
			numer.Set(bigMaxNanos) // far beyond the cap; avoid huge powers
		case exp >= 0:
			numer.Mul(numer, new(big.Int).Exp(bigTen, big.NewInt(exp), nil))
		case exp < -60:
			den.SetInt64(0) // far below a nano: rounds up to 1n
		default:
			den.Mul(den, new(big.Int).Exp(bigTen, big.NewInt(-exp), nil))
		}
		if den.Sign() == 0 {
			nanos.SetInt64(1)
		} else {
			nanos.Add(numer, den).Sub(nanos, bigOne).Quo(nanos, den) // round up
		}
		if nanos.Cmp(bigMaxNanos) > 0 {
			nanos.Set(bigMaxNanos)
		}
		if format == BinarySI && nanos.Cmp(bigNano) < 0 {
			format = DecimalSI // less than one: no binary suffix fits
		}
		if !positive {
			nanos.Neg(nanos)
		}
		return Quantity{nanos: nanos, Format: format}, nil
	}
	return Quantity{Format: format}, nil
}

// MustParseQuantity is ParseQuantity that panics on error; for tests and
// constants.
func MustParseQuantity(s string) Quantity {
	q, err := ParseQuantity(s)
	if err != nil {
		panic("api: " + err.Error())
	}
	return q
}

// NewQuantity returns value in the given format.
func NewQuantity(value int64, format Format) Quantity {
	return capped(new(big.Int).Mul(big.NewInt(value), bigNano), format)
}

// NewMilliQuantity returns value/1000 in the given format.
func NewMilliQuantity(milli int64, format Format) Quantity {
	return capped(new(big.Int).Mul(big.NewInt(milli), bigMilli), format)
}

// splitQuantity follows Kubernetes' parseQuantityString: sign, integer
// digits, optional fraction, then a suffix of letters and an optional
// signed exponent.
func splitQuantity(s string) (positive bool, num, denom, suffix string, ok bool) {
	positive = true
	pos, end := 0, len(s)
	if s[0] == '-' || s[0] == '+' {
		positive = s[0] == '+'
		pos++
	}
	digits := pos
	for pos < end && s[pos] == '0' {
		pos++
	}
	start := pos
	for pos < end && isDigit(s[pos]) {
		pos++
	}
	num = s[start:pos]
	if num == "" {
		num = "0"
	}
	if pos < end && s[pos] == '.' {
		pos++
		start = pos
		for pos < end && isDigit(s[pos]) {
			pos++
		}
		denom = s[start:pos]
	}
	if pos-digits == 0 || (pos-digits == 1 && s[digits] == '.') {
		return false, "", "", "", false // no digits at all: "", "-", ".", "Gi"
	}
	suffixStart := pos
	for pos < end && strings.IndexByte("eEinumkKMGTP", s[pos]) >= 0 {
		pos++
	}
	if pos < end && (s[pos] == '-' || s[pos] == '+') {
		pos++
	}
	for pos < end && isDigit(s[pos]) {
		pos++
	}
	if pos != end {
		return false, "", "", "", false
	}
	return positive, num, denom, s[suffixStart:], true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

var decimalSuffixes = map[string]int64{"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
var binarySuffixes = map[string]int64{"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}

func interpretSuffix(s string) (base int, exp int64, format Format, ok bool) {
	if e, ok := decimalSuffixes[s]; ok {
		return 10, e, DecimalSI, true
	}
	if e, ok := binarySuffixes[s]; ok {
		return 2, e, BinarySI, true
	}
	if len(s) > 1 && (s[0] == 'e' || s[0] == 'E') {
		e, err := strconv.ParseInt(s[1:], 10, 64)
		if err != nil {
			return 0, 0, "", false
		}
		return 10, e, DecimalExponent, true
	}
	return 0, 0, "", false
}

var leadingNumber = regexp.MustCompile(`^\s*([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+))\s*(.*?)\s*$`)

// quantityError explains why s is not a quantity and suggests what the
// user probably meant.
func quantityError(s string) error {
	return fmt.Errorf("%q is not a quantity (%s)", s, quantityHint(s))
}

func quantityHint(s string) string {
	const generic = `try a number with an optional suffix, such as "500m", "2", "1.5Gi" or "512Mi"`
	m := leadingNumber.FindStringSubmatch(s)
	if m == nil {
		return generic
	}
	num, unit := m[1], strings.ToLower(m[2])
	q, err := ParseQuantity(num)
	if err != nil {
		return generic
	}
	switch unit {
	case "", "core", "cores", "cpu", "cpus", "vcpu", "vcpus":
		if unit == "" {
			return fmt.Sprintf("try %q, without spaces", num)
		}
		return fmt.Sprintf("try %q or \"%dm\"", num, q.MilliValue())
	case "millicore", "millicores", "millicpu", "millicpus", "mcpu":
		return fmt.Sprintf("try \"%sm\"", num)
	case "b", "byte", "bytes":
		return fmt.Sprintf("try %q", num)
	}
	memory := map[string]string{"k": "k", "kb": "k", "ki": "k", "kib": "k",
		"mb": "M", "mi": "M", "mib": "M", "g": "G", "gb": "G", "gi": "G", "gib": "G",
		"t": "T", "tb": "T", "ti": "T", "tib": "T", "p": "P", "pb": "P", "pi": "P", "pib": "P"}
	if d, ok := memory[unit]; ok {
		return fmt.Sprintf("try %q or %q", num+d, num+strings.ToUpper(d)+"i")
	}
	return generic
}

func (q Quantity) big() *big.Int {
	if q.nanos == nil {
		return new(big.Int)
	}
	return q.nanos
}

// Sign returns -1, 0 or +1.
func (q Quantity) Sign() int { return q.big().Sign() }

// IsZero reports whether q is zero.
func (q Quantity) IsZero() bool { return q.Sign() == 0 }

// Cmp returns -1, 0 or +1 as q is less than, equal to or greater than o.
func (q Quantity) Cmp(o Quantity) int { return q.big().Cmp(o.big()) }

// Equal reports whether q and o are the same amount.
func (q Quantity) Equal(o Quantity) bool { return q.Cmp(o) == 0 }

// Add returns q+o, in q's format (o's if q is zero).
func (q Quantity) Add(o Quantity) Quantity {
	f := q.Format
	if q.IsZero() {
		f = o.Format
	}
	return capped(new(big.Int).Add(q.big(), o.big()), f)
}

// Sub returns q-o, in q's format (o's if q is zero).
func (q Quantity) Sub(o Quantity) Quantity {
	f := q.Format
	if q.IsZero() {
		f = o.Format
	}
	return capped(new(big.Int).Sub(q.big(), o.big()), f)
}

func capped(n *big.Int, f Format) Quantity {
	if n.Sign() == 0 {
		return Quantity{Format: f} // zero is always nil, so equal amounts compare equal with reflect.DeepEqual
	}
	if n.CmpAbs(bigMaxNanos) > 0 {
		if n.Sign() < 0 {
			n.Neg(bigMaxNanos)
		} else {
			n.Set(bigMaxNanos)
		}
	}
	return Quantity{nanos: n, Format: f}
}

// Value returns q rounded up (away from zero) to an integer.
func (q Quantity) Value() int64 { return q.scaled(bigNano) }

// MilliValue returns q*1000 rounded up (away from zero) to an integer.
func (q Quantity) MilliValue() int64 { return q.scaled(bigMilli) }

func (q Quantity) scaled(unit *big.Int) int64 {
	n := q.big()
	abs := new(big.Int).Abs(n)
	abs.Add(abs, unit).Sub(abs, bigOne).Quo(abs, unit)
	if n.Sign() < 0 {
		abs.Neg(abs)
	}
	if !abs.IsInt64() {
		if abs.Sign() < 0 {
			return math.MinInt64
		}
		return math.MaxInt64
	}
	return abs.Int64()
}

// AsApproximateFloat64 returns q as a float64, possibly losing precision.
func (q Quantity) AsApproximateFloat64() float64 {
	f, _ := new(big.Rat).SetFrac(q.big(), bigNano).Float64()
	return f
}

// String returns the canonical form of q, as Kubernetes prints it.
func (q Quantity) String() string {
	n := q.big()
	if n.Sign() == 0 {
		return "0"
	}
	sign := ""
	if n.Sign() < 0 {
		sign = "-"
	}
	abs := new(big.Int).Abs(n)
	format := q.Format
	if format == BinarySI {
		whole, rem := new(big.Int).QuoRem(abs, bigNano, new(big.Int))
		if rem.Sign() != 0 || whole.Cmp(big.NewInt(1024)) < 0 {
			format = DecimalSI
		} else {
			exp := 0
			k := big.NewInt(1024)
			for exp < 6 {
				d, r := new(big.Int).QuoRem(whole, k, new(big.Int))
				if r.Sign() != 0 {
					break
				}
				whole, exp = d, exp+1
			}
			return sign + whole.String() + [...]string{"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"}[exp]
		}
	}
	// Decimal: mantissa * 10^exp with exp a multiple of 3.
	mant, exp := abs, -9
	for {
		d, r := new(big.Int).QuoRem(mant, bigTen, new(big.Int))
		if r.Sign() != 0 {
			break
		}
		mant, exp = d, exp+1
	}
	for exp%3 != 0 {
		mant = new(big.Int).Mul(mant, bigTen)
		exp--
	}
	if format == DecimalSI {
		for exp > 18 {
			mant = new(big.Int).Mul(mant, big.NewInt(1000))
			exp -= 3
		}
		suffix := map[int]string{-9: "n", -6: "u", -3: "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T", 15: "P", 18: "E"}[exp]
		return sign + mant.String() + suffix
	}
	if exp == 0 {
		return sign + mant.String()
	}
	return sign + mant.String() + "e" + strconv.Itoa(exp)
}

// MarshalJSON writes q as a JSON string in canonical form.
func (q Quantity) MarshalJSON() ([]byte, error) { return json.Marshal(q.String()) }

// UnmarshalJSON reads a JSON string or number, as Kubernetes does
// (surrounding spaces in a string are ignored).
func (q *Quantity) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		*q = Quantity{}
		return nil
	}
	var s string
	switch {
	case len(b) > 0 && b[0] == '"':
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		s = strings.TrimSpace(s)
	case len(b) > 0 && (b[0] == '-' || isDigit(b[0])):
		s = string(b)
	default:
		return fmt.Errorf("a quantity must be a string or a number, such as \"500m\", 2 or \"1Gi\", not %s", b)
	}
	parsed, err := ParseQuantity(s)
	if err != nil {
		return err
	}
	*q = parsed
	return nil
}

// ResourceList maps resource names (cpu, memory, nvidia.com/gpu) to amounts.
type ResourceList map[string]Quantity

// Resource names shoal knows natively; other names must be extended
// resources with a domain prefix, such as nvidia.com/gpu.
const (
	ResourceCPU              = "cpu"
	ResourceMemory           = "memory"
	ResourceEphemeralStorage = "ephemeral-storage"
)

// Cpu returns the cpu amount, or zero.
func (l ResourceList) Cpu() Quantity { return l[ResourceCPU] }

// Memory returns the memory amount, or zero.
func (l ResourceList) Memory() Quantity { return l[ResourceMemory] }

// IntOrStringType says which half of an IntOrString is set.
type IntOrStringType int

const (
	IntOrStringInt    IntOrStringType = iota // IntVal is set
	IntOrStringString                        // StrVal is set
)

// IntOrString holds an integer or a string, as Kubernetes writes ports
// ("http" or 8080) and rolling-update bounds (1 or "25%").
type IntOrString struct {
	Type   IntOrStringType
	IntVal int32
	StrVal string
}

// FromInt returns an IntOrString holding i.
func FromInt(i int) IntOrString { return IntOrString{Type: IntOrStringInt, IntVal: int32(i)} }

// FromString returns an IntOrString holding s.
func FromString(s string) IntOrString { return IntOrString{Type: IntOrStringString, StrVal: s} }

// String returns the string, or the integer in decimal.
func (v IntOrString) String() string {
	if v.Type == IntOrStringString {
		return v.StrVal
	}
	return strconv.Itoa(int(v.IntVal))
}

// IntValue returns the integer, or the string parsed as one (0 if it is not).
func (v IntOrString) IntValue() int {
	if v.Type == IntOrStringString {
		i, _ := strconv.Atoi(v.StrVal)
		return i
	}
	return int(v.IntVal)
}

// IsZero reports whether v is the integer 0 or the empty string.
func (v IntOrString) IsZero() bool {
	return (v.Type == IntOrStringInt && v.IntVal == 0) || (v.Type == IntOrStringString && v.StrVal == "")
}

// MarshalJSON writes a JSON number or string.
func (v IntOrString) MarshalJSON() ([]byte, error) {
	if v.Type == IntOrStringString {
		return json.Marshal(v.StrVal)
	}
	return json.Marshal(v.IntVal)
}

// UnmarshalJSON reads a JSON integer or string.
func (v *IntOrString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		v.Type, v.IntVal = IntOrStringString, 0
		return json.Unmarshal(b, &v.StrVal)
	}
	i, err := strconv.ParseInt(string(b), 10, 32)
	if err != nil {
		return fmt.Errorf("must be an integer or a string, such as 8080, \"http\" or \"25%%\", not %s", b)
	}
	v.Type, v.IntVal, v.StrVal = IntOrStringInt, int32(i), ""
	return nil
}

// ScaledValue resolves v against total: an integer is itself, "N%" is
// N% of total, rounded up or down.
func (v IntOrString) ScaledValue(total int, roundUp bool) (int, error) {
	if v.Type == IntOrStringInt {
		return int(v.IntVal), nil
	}
	p, ok := strings.CutSuffix(v.StrVal, "%")
	n, err := strconv.Atoi(p)
	if !ok || err != nil {
		return 0, fmt.Errorf("%q is neither an integer nor a percentage such as \"25%%\"", v.StrVal)
	}
	if roundUp {
		return int(math.Ceil(float64(n) * float64(total) / 100)), nil
	}
	return int(math.Floor(float64(n) * float64(total) / 100)), nil
}

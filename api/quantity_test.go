package api

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// Canonical forms as Kubernetes' resource.Quantity prints them (from
// k8s.io/apimachinery's quantity_test.go and kubectl output).
func TestQuantityCanonical(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"0", "0"}, {"0m", "0"}, {"0Ki", "0"}, {"-0", "0"},
		{"500m", "500m"}, {"100m", "100m"}, {"1000m", "1"}, {"1500m", "1500m"},
		{"1.5", "1500m"}, {"0.5", "500m"}, {".5", "500m"}, {"1.", "1"}, {"1.G", "1G"},
		{"2", "2"}, {"1e3", "1e3"}, {"1E3", "1e3"}, {"1e-3", "1e-3"}, {"1.2e3", "1200"},
		{"1.3E+6", "1300e3"}, {"0.5e0", "500e-3"}, {"3e3", "3e3"},
		{"1k", "1k"}, {"1000", "1k"}, {"1000000", "1M"}, {"1000M", "1G"}, {"1M", "1M"},
		{"50k", "50k"}, {"100.035k", "100035"}, {"10.035M", "10035k"}, {"12E", "9223372036854775807"},
		{"2Gi", "2Gi"}, {"1024Mi", "1Gi"}, {"0.5Gi", "512Mi"}, {"1.5Gi", "1536Mi"}, {"100Ki", "100Ki"},
		{"1Ki", "1Ki"}, {"1025Ki", "1025Ki"}, {"1024", "1024"}, {"0.5Mi", "512Ki"},
		{".001Ki", "1024m"}, {".000001Ki", "1024u"}, {".000000001Ki", "1024n"}, {".000000000001Ki", "2n"},
		{"0.05Gi", "53687091200m"}, {"9Ei", "9223372036854775807"},
		{"5n", "5n"}, {"4u", "4u"}, {"3.001n", "4n"}, {"0.0000000001", "1n"}, {"0.00000012345", "124n"},
		{"-1", "-1"}, {"-500m", "-500m"}, {"-1.5Gi", "-1536Mi"}, {"+2Gi", "2Gi"}, {"-.000000000001Ki", "-2n"},
	} {
		q, err := ParseQuantity(c.in)
		if err != nil {
			t.Errorf("ParseQuantity(%q): %v", c.in, err)
			continue
		}
		if got := q.String(); got != c.want {
			t.Errorf("ParseQuantity(%q).String() = %q, want %q", c.in, got, c.want)
		}
		// The canonical form parses back to the same amount and prints the same.
		back, err := ParseQuantity(q.String())
		if err != nil || back.Cmp(q) != 0 || back.String() != c.want {
			t.Errorf("%q: canonical %q does not round-trip: %v %v", c.in, q.String(), back, err)
		}
	}
}

func TestQuantityValues(t *testing.T) {
	for _, c := range []struct {
		in           string
		milli, value int64
	}{
		{"500m", 500, 1}, {"1.5", 1500, 2}, {"2", 2000, 2}, {"1e3", 1000000, 1000},
		{"2Gi", 2 << 30 * 1000, 2 << 30}, {"100Ki", 102400000, 102400}, {"1M", 1e9, 1e6},
		{"1n", 1, 1}, {"-1.5", -1500, -2}, {"0", 0, 0},
	} {
		q := MustParseQuantity(c.in)
		if q.MilliValue() != c.milli || q.Value() != c.value {
			t.Errorf("%q: MilliValue %d Value %d, want %d %d", c.in, q.MilliValue(), q.Value(), c.milli, c.value)
		}
	}
	if a, b := MustParseQuantity("1Gi"), MustParseQuantity("1024Mi"); !a.Equal(b) || a.Cmp(MustParseQuantity("1G")) <= 0 {
		t.Error("Cmp")
	}
	if got := MustParseQuantity("100m").Add(MustParseQuantity("1.9")).String(); got != "2" {
		t.Errorf("100m+1.9 = %s", got)
	}
	if got := MustParseQuantity("1Gi").Sub(MustParseQuantity("512Mi")).String(); got != "512Mi" {
		t.Errorf("1Gi-512Mi = %s", got)
	}
	if got := NewMilliQuantity(1500, DecimalSI).String(); got != "1500m" {
		t.Errorf("NewMilliQuantity = %s", got)
	}
	if got := NewQuantity(1024*1024, BinarySI).String(); got != "1Mi" {
		t.Errorf("NewQuantity = %s", got)
	}
	if f := MustParseQuantity("250m").AsApproximateFloat64(); f != 0.25 {
		t.Errorf("AsApproximateFloat64 = %v", f)
	}
	if d := MustParseQuantity("1").Sub(MustParseQuantity("1000m")); !reflect.DeepEqual(d, MustParseQuantity("0")) {
		t.Errorf("zero from Sub is not DeepEqual to a parsed zero: %#v", d)
	}
	if !reflect.DeepEqual(MustParseQuantity("1.5"), MustParseQuantity("1500m")) {
		t.Error("equal amounts in one format are not DeepEqual")
	}
	var zero Quantity
	if zero.String() != "0" || !zero.IsZero() || zero.MilliValue() != 0 {
		t.Error("zero Quantity")
	}
}

func TestQuantityErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"2 cores", `"2 cores" is not a quantity (try "2" or "2000m")`},
		{"0.5 cpu", `"0.5 cpu" is not a quantity (try "0.5" or "500m")`},
		{"2GB", `"2GB" is not a quantity (try "2G" or "2Gi")`},
		{"512mb", `"512mb" is not a quantity (try "512M" or "512Mi")`},
		{"1gi", `"1gi" is not a quantity (try "1G" or "1Gi")`},
		{"1K", `"1K" is not a quantity (try "1k" or "1Ki")`},
		{"100 millicores", `"100 millicores" is not a quantity (try "100m")`},
		{" 1", `" 1" is not a quantity (try "1", without spaces)`},
		{"lots", `"lots" is not a quantity (try a number with an optional suffix, such as "500m", "2", "1.5Gi" or "512Mi")`},
		{"", `"" is not a quantity (try a number with an optional suffix, such as "500m", "2", "1.5Gi" or "512Mi")`},
	} {
		_, err := ParseQuantity(c.in)
		if err == nil || err.Error() != c.want {
			t.Errorf("ParseQuantity(%q) = %v, want %s", c.in, err, c.want)
		}
	}
	// Rejected by Kubernetes too.
	for _, bad := range []string{"1.1.M", "1+1.0M", "0.1mi", "0.1am", "aoeu", ".5i", "1i", "-3.01i", "-3.01e-", "1 ", "1e", "Gi", "-", ".", "1Mb", "1e3.5"} {
		if _, err := ParseQuantity(bad); err == nil {
			t.Errorf("ParseQuantity(%q) succeeded", bad)
		}
	}
}

func TestQuantityJSON(t *testing.T) {
	var r struct {
		L ResourceList `json:"l"`
	}
	if err := json.Unmarshal([]byte(`{"l":{"cpu":"1.5","memory":"1024Mi","nvidia.com/gpu":1,"x":0.5,"y":" 2 ","z":1e3}}`), &r); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(r)
	if want := `{"l":{"cpu":"1500m","memory":"1Gi","nvidia.com/gpu":"1","x":"500m","y":"2","z":"1e3"}}`; string(b) != want {
		t.Errorf("round trip = %s, want %s", b, want)
	}
	var q Quantity
	if err := json.Unmarshal([]byte(`"2 cores"`), &q); err == nil || !strings.Contains(err.Error(), `"2 cores" is not a quantity (try "2" or "2000m")`) {
		t.Errorf("bad quantity: %v", err)
	}
	if err := json.Unmarshal([]byte(`true`), &q); err == nil || !strings.Contains(err.Error(), "string or a number") {
		t.Errorf("bool quantity: %v", err)
	}
	if err := json.Unmarshal([]byte(`null`), &q); err != nil || !q.IsZero() {
		t.Errorf("null quantity: %v %v", q, err)
	}
}

func TestIntOrString(t *testing.T) {
	var v struct {
		A IntOrString  `json:"a"`
		B IntOrString  `json:"b"`
		C *IntOrString `json:"c,omitempty"`
	}
	if err := json.Unmarshal([]byte(`{"a":8080,"b":"http"}`), &v); err != nil {
		t.Fatal(err)
	}
	if v.A != FromInt(8080) || v.B != FromString("http") || v.A.String() != "8080" || v.B.IntValue() != 0 {
		t.Fatalf("decoded %+v", v)
	}
	b, _ := json.Marshal(v)
	if string(b) != `{"a":8080,"b":"http"}` {
		t.Errorf("marshal = %s", b)
	}
	for _, bad := range []string{`{"a":1.5}`, `{"a":true}`, `{"a":99999999999}`} {
		if err := json.Unmarshal([]byte(bad), &v); err == nil || !strings.Contains(err.Error(), "integer or a string") {
			t.Errorf("%s: %v", bad, err)
		}
	}
	for _, c := range []struct {
		v       IntOrString
		total   int
		up      bool
		want    int
		wantErr bool
	}{
		{FromString("25%"), 10, true, 3, false}, {FromString("25%"), 10, false, 2, false},
		{FromInt(1), 10, true, 1, false}, {FromString("0%"), 5, true, 0, false}, {FromString("x"), 5, true, 0, true},
	} {
		got, err := c.v.ScaledValue(c.total, c.up)
		if got != c.want || (err != nil) != c.wantErr {
			t.Errorf("%v.ScaledValue(%d, %v) = %d, %v", c.v, c.total, c.up, got, err)
		}
	}
}

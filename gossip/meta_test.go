package gossip

import (
	"errors"
	"maps"
	"strings"
	"testing"
)

func TestMetaRoundTrip(t *testing.T) {
	m := Meta{
		ID:          "5f0c2b7e-8d1a-4c3b-9e2f-1a2b3c4d5e6f",
		RaftAddr:    "10.0.0.5:7000",
		APIAddr:     "10.0.0.5:7001",
		Labels:      map[string]string{ZoneLabel: "eu-1a", "disk": "ssd"},
		CPUMillis:   8000,
		MemoryBytes: 32 << 30,
		Version:     "v1.2.3",
	}
	b, err := encodeMeta(m, "abc")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d bytes: %s", len(b), b)
	got, session, err := decodeMeta(b)
	if err != nil {
		t.Fatal(err)
	}
	if session != "abc" || got.ID != m.ID || got.RaftAddr != m.RaftAddr || got.APIAddr != m.APIAddr ||
		got.CPUMillis != m.CPUMillis || got.MemoryBytes != m.MemoryBytes || got.Version != m.Version ||
		!maps.Equal(got.Labels, m.Labels) {
		t.Errorf("round trip: got %+v %q, want %+v", got, session, m)
	}
	if got.Zone() != "eu-1a" {
		t.Errorf("Zone() = %q", got.Zone())
	}
	if (Meta{}).Zone() != "" {
		t.Error("empty Meta has a zone")
	}
	// Unknown keys from a newer version are ignored.
	if got, _, err := decodeMeta([]byte(`{"i":"x","new":1}`)); err != nil || got.ID != "x" {
		t.Errorf("decode with an unknown key: %+v, %v", got, err)
	}
	for _, bad := range []string{"", "junk", `{"r":"1.2.3.4:5"}`} {
		if _, _, err := decodeMeta([]byte(bad)); err == nil {
			t.Errorf("decodeMeta(%q) succeeded", bad)
		}
	}
}

func TestMetaTooLarge(t *testing.T) {
	cfg := testConfig(t, "n1")
	cfg.Meta.Labels = map[string]string{
		"example.com/long-label": strings.Repeat("x", 300),
		"example.com/other":      strings.Repeat("y", 200),
		"small":                  "z",
	}
	_, err := New(cfg)
	if !errors.Is(err, ErrMetaTooLarge) {
		t.Fatalf("New = %v, want ErrMetaTooLarge", err)
	}
	t.Logf("error: %v", err)
	msg := err.Error()
	for _, want := range []string{"512", `"example.com/long-label"`, `"example.com/other"`, "id-n1"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not mention %s: %v", want, err)
		}
	}
	if strings.Index(msg, "long-label") > strings.Index(msg, "example.com/other") {
		t.Errorf("labels not listed largest first: %v", err)
	}

	// UpdateMeta refuses it too, and keeps the old metadata.
	g := startNode(t, "n2")
	m := g.Local().Meta
	m.Labels["huge"] = strings.Repeat("h", 600)
	if err := g.UpdateMeta(m); !errors.Is(err, ErrMetaTooLarge) || !strings.Contains(err.Error(), `"huge"`) {
		t.Errorf("UpdateMeta = %v, want ErrMetaTooLarge naming the label", err)
	}
	if _, ok := g.Local().Meta.Labels["huge"]; ok {
		t.Error("a refused UpdateMeta changed Local")
	}
}

func TestMetaCopied(t *testing.T) {
	cfg := testConfig(t, "n1")
	g := start(t, cfg)
	cfg.Meta.Labels["disk"] = "changed" // the caller's map
	if got := g.Local().Meta.Labels["disk"]; got != "ssd" {
		t.Errorf("New kept the caller's Labels map: disk=%q", got)
	}
	l := g.Local()
	l.Meta.Labels["disk"] = "changed"
	if got := g.Local().Meta.Labels["disk"]; got != "ssd" {
		t.Errorf("Local returned a shared Labels map: disk=%q", got)
	}
}

func TestConfigValidation(t *testing.T) {
	k, err := GenerateKey()
	if err != nil || len(k) != KeySize {
		t.Fatalf("GenerateKey = %d bytes, %v", len(k), err)
	}
	if k2, _ := GenerateKey(); string(k2) == string(k) {
		t.Error("GenerateKey returned the same key twice")
	}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want error
	}{
		{"no name", func(c *Config) { c.Name = "" }, ErrNoName},
		{"no id", func(c *Config) { c.Meta.ID = "" }, ErrNoID},
		{"no key", func(c *Config) { c.Keys = nil }, ErrNoKey},
		{"short key", func(c *Config) { c.Keys = [][]byte{k, k[:16]} }, ErrBadKey},
		{"insecure with key", func(c *Config) { c.Insecure = true }, ErrBadKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, "n1")
			tc.mod(&cfg)
			g, err := New(cfg)
			if err == nil {
				g.Shutdown()
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("New = %v, want %v", err, tc.want)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "gossip: ") {
				t.Errorf("error lacks the package prefix: %v", err)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	cfg := Config{Name: "n", Meta: Meta{ID: "x"}, Insecure: true}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.BindAddr != "0.0.0.0" || cfg.BindPort != DefaultPort || cfg.AdvertisePort != DefaultPort ||
		cfg.Logger == nil || cfg.Clock == nil {
		t.Errorf("defaults: %+v", cfg)
	}
	mc, err := cfg.memberlistConfig()
	if err != nil {
		t.Fatal(err)
	}
	if mc.ProbeInterval.Seconds() != 1 || mc.SuspicionMult != 4 || mc.Keyring != nil {
		t.Errorf("expected LAN defaults without a keyring: probe %v mult %d", mc.ProbeInterval, mc.SuspicionMult)
	}
	cfg = testConfig(t, "n")
	cfg.validate()
	mc, err = cfg.memberlistConfig()
	if err != nil {
		t.Fatal(err)
	}
	if mc.ProbeInterval != cfg.ProbeInterval || mc.SuspicionMult != 2 || mc.Keyring == nil ||
		!mc.GossipVerifyIncoming || !mc.GossipVerifyOutgoing {
		t.Errorf("tuning or encryption not applied: %+v", mc)
	}
}

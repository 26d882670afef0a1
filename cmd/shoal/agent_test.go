package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestConfigFileFillsUnsetFlags(t *testing.T) {
	cmd := newAgentCmd()
	p := filepath.Join(t.TempDir(), "agent.yaml")
	os.WriteFile(p, []byte("name: from-file\ndata-dir: /srv/shoal\njoin:\n  - 10.0.0.1\n  - 10.0.0.2\napi-port: 9000\n"), 0o600)
	if err := cmd.Flags().Parse([]string{"--name", "from-flag"}); err != nil {
		t.Fatal(err)
	}
	if err := applyConfigFile(cmd.Flags(), p); err != nil {
		t.Fatal(err)
	}
	get := func(n string) string { return cmd.Flags().Lookup(n).Value.String() }
	if get("name") != "from-flag" {
		t.Errorf("a flag on the command line lost to the file: name = %s", get("name"))
	}
	if get("data-dir") != "/srv/shoal" || get("api-port") != "9000" || get("join") != "[10.0.0.1,10.0.0.2]" {
		t.Errorf("file values not applied: data-dir=%s api-port=%s join=%s", get("data-dir"), get("api-port"), get("join"))
	}
}

func TestConfigFileErrors(t *testing.T) {
	dir := t.TempDir()
	for body, want := range map[string]string{
		"nmae: x\n":        `unknown key "nmae"`,
		"api-port: many\n": "api-port",
		"name: [\n":        "agent.yaml",
	} {
		p := filepath.Join(dir, "agent.yaml")
		os.WriteFile(p, []byte(body), 0o600)
		err := applyConfigFile(newAgentCmd().Flags(), p)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want an error mentioning %q", body, err, want)
		}
	}
}

func TestParseLabels(t *testing.T) {
	got, err := parseLabels("topology.kubernetes.io/zone=a, disk=ssd")
	if err != nil || !reflect.DeepEqual(got, map[string]string{"topology.kubernetes.io/zone": "a", "disk": "ssd"}) {
		t.Fatalf("got %v, %v", got, err)
	}
	if _, err := parseLabels("novalue"); err == nil || !strings.Contains(err.Error(), "key=value") {
		t.Fatalf("bad label: %v", err)
	}
}

func TestHelpOnEveryCommand(t *testing.T) {
	root := newRoot()
	for _, c := range root.Commands() {
		if c.Short == "" {
			t.Errorf("command %q has no help text", c.Name())
		}
		for _, sub := range c.Commands() {
			if sub.Short == "" {
				t.Errorf("command %q %q has no help text", c.Name(), sub.Name())
			}
		}
	}
}

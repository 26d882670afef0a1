package gossip

import (
	"errors"
	"strings"
	"testing"
)

func TestWrongKeyCannotJoin(t *testing.T) {
	seed := startNode(t, "seed")
	n2 := startNode(t, "n2")
	mustJoin(t, n2, seed)
	waitFor(t, "seed and n2 to meet", func() bool { return seed.NumAlive() == 2 })

	otherKey, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		opt  func(*Config)
	}{
		{"wrong key", func(c *Config) { c.Keys = [][]byte{otherKey} }},
		{"no key", func(c *Config) { c.Keys, c.Insecure = nil, true }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bad := startNode(t, "intruder", tc.opt)
			n, err := bad.Join([]string{addr(seed)})
			t.Logf("Join error: %v", err)
			if err == nil || n != 0 {
				t.Fatalf("Join = %d, %v; want an error", n, err)
			}
			if !errors.Is(err, ErrWrongKey) {
				t.Errorf("error does not wrap ErrWrongKey: %v", err)
			}
			if !strings.Contains(err.Error(), "join token") {
				t.Errorf("error does not mention the join token: %v", err)
			}
			if !strings.Contains(err.Error(), addr(seed)) {
				t.Errorf("error does not name the address: %v", err)
			}
			// Nobody learned about anybody.
			if bad.NumAlive() != 1 {
				t.Errorf("intruder sees %s", dump(bad))
			}
			for _, g := range []*Gossip{seed, n2} {
				if _, ok := member(g, "intruder"); ok {
					t.Errorf("%s sees the intruder: %s", g.name, dump(g))
				}
			}
		})
	}
}

func TestKeyedNodeCannotJoinInsecureCluster(t *testing.T) {
	seed := startNode(t, "seed", func(c *Config) { c.Keys, c.Insecure = nil, true })
	n := startNode(t, "n2")
	_, err := n.Join([]string{addr(seed)})
	t.Logf("Join error: %v", err)
	if !errors.Is(err, ErrWrongKey) {
		t.Errorf("Join = %v, want ErrWrongKey", err)
	}
}

func TestKeyRotation(t *testing.T) {
	newKey, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	// The seed still encrypts with the old key but accepts the new one.
	seed := startNode(t, "seed", func(c *Config) { c.Keys = [][]byte{testKey, newKey} })
	n := startNode(t, "n2", func(c *Config) { c.Keys = [][]byte{newKey, testKey} })
	mustJoin(t, n, seed)
	waitFor(t, "both to see 2", func() bool { return seed.NumAlive() == 2 && n.NumAlive() == 2 })
}

func TestInsecureCluster(t *testing.T) {
	insecure := func(c *Config) { c.Keys, c.Insecure = nil, true }
	seed := startNode(t, "seed", insecure)
	n := startNode(t, "n2", insecure)
	mustJoin(t, n, seed)
	waitFor(t, "both to see 2", func() bool { return seed.NumAlive() == 2 && n.NumAlive() == 2 })
}

// Rotating the key ring on every node keeps the members talking, and a node
// that only has the retired key is locked out afterwards.
func TestSetKeysRotation(t *testing.T) {
	old, _ := GenerateKey()
	fresh, _ := GenerateKey()
	withKey := func(k ...[]byte) func(*Config) { return func(c *Config) { c.Keys = k } }
	a := startNode(t, "rot-a", withKey(old))
	b := startNode(t, "rot-b", withKey(old))
	if _, err := b.Join([]string{a.Local().Addr}); err != nil {
		t.Fatal(err)
	}
	for _, g := range []*Gossip{a, b} {
		if err := g.SetKeys([][]byte{fresh, old}); err != nil {
			t.Fatal(err)
		}
	}
	for _, g := range []*Gossip{a, b} {
		if err := g.SetKeys([][]byte{fresh}); err != nil {
			t.Fatal(err)
		}
	}
	c := startNode(t, "rot-c", withKey(fresh))
	if _, err := c.Join([]string{a.Local().Addr}); err != nil {
		t.Fatalf("join with the new key: %v", err)
	}
	stale := startNode(t, "rot-stale", withKey(old))
	if _, err := stale.Join([]string{a.Local().Addr}); err == nil {
		t.Fatal("a node with the retired key joined")
	}
}

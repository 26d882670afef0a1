package node

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/pki"
)

func secureCluster(t *testing.T, n int) *testCluster {
	c := newTestCluster(t)
	c.start("n1", "")
	for i := 2; i <= n; i++ {
		c.start(fmt.Sprintf("n%d", i), "n1")
	}
	var voters []string
	for i := 1; i <= min(n, 3); i++ {
		voters = append(voters, fmt.Sprintf("n%d", i))
	}
	if n == 2 {
		voters = voters[:1]
	}
	c.waitRoles(voters...)
	return c
}

// tryJoin starts a new agent that joins n1 with token, and returns the
// error Start gave.
func tryJoin(t *testing.T, c *testCluster, name, token string) (*Agent, error) {
	cfg := testConfig(t, name, filepath.Join(c.dir, name))
	cfg.Join = []string{c.cfgs["n1"].BindAddr}
	cfg.Token = token
	a, err := New(cfg)
	if err != nil {
		return nil, err
	}
	err = a.Start()
	t.Cleanup(func() { a.Shutdown() })
	return a, err
}

func rejected(a *Agent, reason string) float64 {
	var total float64
	mfs, _ := a.m.reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "shoal_auth_rejected_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					total += m.GetCounter().GetValue()
				}
			}
		}
	}
	return total
}

func TestJoinRefusals(t *testing.T) {
	c := secureCluster(t, 1)
	n1 := c.agents["n1"]
	good, err := pki.ParseToken(n1.Token())
	if err != nil {
		t.Fatal(err)
	}
	before, _ := n1.Store().List("Credential", "")

	t.Run("wrong secret", func(t *testing.T) {
		bad := good
		bad.Secret = bytes.Repeat([]byte{7}, 32)
		_, err := tryJoin(t, c, "wrong-secret", bad.String())
		if err == nil || !strings.Contains(err.Error(), "not valid for this cluster") {
			t.Fatalf("got %v, want a refusal naming the token", err)
		}
		if rejected(n1, "join") == 0 {
			t.Fatal("the refusal was not counted in shoal_auth_rejected_total")
		}
	})
	t.Run("another cluster's CA", func(t *testing.T) {
		other, _ := pki.NewCA(time.Now(), "other")
		bad := good
		bad.CAFingerprint = other.Fingerprint()
		_, err := tryJoin(t, c, "other-ca", bad.String())
		if err == nil || !strings.Contains(err.Error(), "different cluster") {
			t.Fatalf("got %v, want a refusal saying the token is for another cluster", err)
		}
	})
	t.Run("one-time token used twice", func(t *testing.T) {
		var tok TokenAnswer
		if _, err := c.client("n1").Do(ctxT(t), http.MethodPost, "/v1/token/create", nil, &tok); err != nil {
			t.Fatal(err)
		}
		if _, err := tryJoin(t, c, "once-a", tok.Token); err != nil {
			t.Fatalf("first use of a one-time token: %v", err)
		}
		_, err := tryJoin(t, c, "once-b", tok.Token)
		if err == nil || !strings.Contains(err.Error(), "already used") {
			t.Fatalf("second use: got %v, want a refusal saying it was used", err)
		}
	})
	after, _ := n1.Store().List("Credential", "")
	if len(after) != len(before)+1 { // only once-a was admitted
		t.Fatalf("refused joins changed state: %d credentials before, %d after", len(before), len(after))
	}
}

// forced presents kp's certificate whatever CAs the server asks for (Go's
// client would otherwise leave out a certificate the server cannot verify).
func forced(kp *pki.Keypair) *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		return kp.Certificate(), nil
	}}
}

func TestTransportsRefuseStrangers(t *testing.T) {
	c := secureCluster(t, 1)
	n1 := c.agents["n1"]
	raftAddr := net.JoinHostPort(c.cfgs["n1"].BindAddr, fmt.Sprint(DefaultRaftPort))

	t.Run("raw TCP to the Raft port", func(t *testing.T) {
		conn, err := net.DialTimeout("tcp", raftAddr, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.Write([]byte{0, 1, 2, 3, 'h', 'e', 'l', 'l', 'o', '\n'})
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadAll(conn); err != nil {
			t.Fatalf("raft kept a raw TCP connection open: %v", err)
		}
		waitUntil(t, 5*time.Second, "the refusal to be counted", func() (bool, string) {
			return rejected(n1, "raft-handshake") > 0, ""
		})
	})
	otherCA, _ := pki.NewCA(time.Now(), "other")
	key, _ := pki.NewKey()
	certPEM, _ := otherCA.Issue(time.Now(), &key.PublicKey, "n9", pki.RoleNode, []net.IP{net.ParseIP("127.0.0.1")}, nil, time.Hour)
	keyPEM, _ := pki.KeyPEM(key)
	foreign, _ := pki.NewKeypair(certPEM, keyPEM, nil)
	t.Run("a certificate from another CA at the Raft port", func(t *testing.T) {
		conn, err := tls.Dial("tcp", raftAddr, forced(foreign))
		if err == nil {
			_, err = conn.Read(make([]byte, 1))
			conn.Close()
		}
		if err == nil {
			t.Fatal("raft accepted a certificate from another CA")
		}
	})
	t.Run("a certificate from another CA at the API", func(t *testing.T) {
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: forced(foreign)}}
		resp, err := hc.Get(n1.APIURL() + "/v1/status")
		if err == nil {
			resp.Body.Close()
			t.Fatalf("API answered %s to a foreign certificate", resp.Status)
		}
	})
	t.Run("plain HTTP to the API", func(t *testing.T) {
		resp, err := http.Get("http://" + n1.APIAddr() + "/v1/status")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Fatalf("plain HTTP was served: %s", b)
			}
		}
	})
	t.Run("HTTPS without a credential", func(t *testing.T) {
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
		resp, err := hc.Get(n1.APIURL() + "/v1/status")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("no credential: got %s, want 401", resp.Status)
		}
		resp, err = hc.Get(n1.APIURL() + "/healthz")
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("/healthz without a credential: %v %v", resp, err)
		}
		resp.Body.Close()
	})
}

func TestCredentialsRevokeAndReadOnly(t *testing.T) {
	c := secureCluster(t, 3)
	ctx := ctxT(t)
	admin := c.client("n1")
	mk := func(name string, ro bool) *ClientConfig {
		var cc ClientConfig
		if _, err := admin.Do(ctx, http.MethodPost, "/v1/credentials", CredentialRequest{Name: name, ReadOnly: ro}, &cc); err != nil {
			t.Fatalf("create credential %s: %v", name, err)
		}
		return &cc
	}
	clientsFor := func(cc *ClientConfig) []*api.Client {
		var out []*api.Client
		for _, a := range c.running() {
			cl, err := cc.Client(a.APIURL())
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, cl)
		}
		return out
	}
	ro := mk("viewer", true)
	for _, cl := range clientsFor(ro) {
		if _, err := cl.Members(ctx); err != nil {
			t.Fatalf("read-only credential cannot read: %v", err)
		}
		_, err := cl.Create(ctx, cm("from-viewer"))
		if api.ReasonOf(err) != api.ReasonForbidden || !strings.Contains(err.Error(), "read-only") {
			t.Fatalf("read-only credential wrote: got %v, want 403", err)
		}
		if _, _, err := cl.List(ctx, "Secret", "default", false); api.ReasonOf(err) != api.ReasonForbidden {
			t.Fatalf("read-only credential read secrets: %v", err)
		}
	}
	ops := mk("ops", false)
	opsClients := clientsFor(ops)
	for _, cl := range opsClients {
		if _, err := cl.Status(ctx); err != nil {
			t.Fatalf("new credential does not work: %v", err)
		}
	}
	if _, err := admin.Do(ctx, http.MethodDelete, "/v1/credentials/ops", nil, nil); err != nil {
		t.Fatal(err)
	}
	for i, cl := range opsClients {
		if _, err := cl.Status(ctx); api.ReasonOf(err) != api.ReasonUnauthorized || !strings.Contains(err.Error(), "revoked") {
			t.Fatalf("node %d still accepts a revoked credential: %v", i, err)
		}
	}
}

// Rotating the join secret and the gossip key while writes flow: no write
// fails, members stay alive, the old token is refused and the new one works.
func TestRotationDuringTraffic(t *testing.T) {
	c := secureCluster(t, 3)
	oldToken := c.agents["n1"].Token()
	ctx, stop := context.WithCancel(context.Background())
	var failures, writes atomic.Int64
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := c.client(fmt.Sprintf("n%d", w+2))
			for i := 0; ctx.Err() == nil; i++ {
				if _, err := cl.Create(context.Background(), cm(fmt.Sprintf("w%d-%d", w, i))); err != nil {
					failures.Add(1)
					t.Logf("write failed during rotation: %v", err)
				}
				writes.Add(1)
			}
		}()
	}
	var tok TokenAnswer
	if _, err := c.client("n2").Do(ctxT(t), http.MethodPost, "/v1/token/rotate", RotateRequest{GossipKey: true}, &tok); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "every node to use the new gossip key", func() (bool, string) {
		for _, a := range c.running() {
			if len(a.gossipKeysSnapshot()) != 2 {
				return false, a.Name()
			}
		}
		return true, ""
	})
	time.Sleep(time.Second) // keep writing and gossiping on the new key
	for _, a := range c.running() {
		for _, m := range a.Members() {
			if m.Gossip != "alive" {
				t.Fatalf("%s sees %s as %s after the gossip key rotation", a.Name(), m.Name, m.Gossip)
			}
		}
	}
	if _, err := tryJoin(t, c, "old-token", oldToken); err == nil || !strings.Contains(err.Error(), "not valid") {
		t.Fatalf("join with the rotated-out token: %v", err)
	}
	if _, err := tryJoin(t, c, "new-token", tok.Token); err != nil {
		t.Fatalf("join with the new token: %v", err)
	}
	stop()
	wg.Wait()
	if failures.Load() > 0 || writes.Load() == 0 {
		t.Fatalf("%d of %d writes failed during rotation", failures.Load(), writes.Load())
	}
	waitUntil(t, 10*time.Second, "the new member alive everywhere", func() (bool, string) {
		for _, a := range c.running() {
			if len(a.Members()) != 4 {
				return false, fmt.Sprintf("%s sees %d members", a.Name(), len(a.Members()))
			}
		}
		return true, ""
	})
	if got := strings.TrimSpace(c.agents["n3"].Token()); got != tok.Token {
		t.Fatalf("n3's token file was not updated after the rotation")
	}
}

// A Secret's plaintext is nowhere in any data dir: not in the Raft log, not
// in snapshots, not in any other file. The API returns it opened.
func TestSecretsSealedAtRest(t *testing.T) {
	c := secureCluster(t, 3)
	ctx := ctxT(t)
	plain := "correct-horse-battery-staple-4b1d"
	sec := &api.Secret{
		TypeMeta:   api.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: api.ObjectMeta{Name: "db", Namespace: "default"},
		Data:       map[string][]byte{"password": []byte(plain)},
		StringData: map[string]string{"user": plain + "-user"},
	}
	if _, err := c.client("n2").Create(ctx, sec); err != nil {
		t.Fatal(err)
	}
	var got api.Object
	waitUntil(t, 10*time.Second, "n3 to have the secret", func() (bool, string) {
		var err error
		got, err = c.client("n3").Get(ctx, "Secret", "default", "db") // reads are local
		return err == nil, fmt.Sprint(err)
	})
	if s := got.(*api.Secret); string(s.Data["password"]) != plain || string(s.Data["user"]) != plain+"-user" || s.Sealed != nil {
		t.Fatalf("API returned %+v, want the opened data", s)
	}
	for _, a := range c.running() {
		if err := a.Raft().Raw().Snapshot().Error(); err != nil {
			t.Fatalf("snapshot on %s: %v", a.Name(), err)
		}
	}
	needles := [][]byte{[]byte(plain), []byte(base64.StdEncoding.EncodeToString([]byte(plain))), []byte(base64.StdEncoding.EncodeToString([]byte(plain + "-user")))}
	files := 0
	filepath.Walk(c.dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		files++
		for _, n := range needles {
			if bytes.Contains(b, n) {
				t.Errorf("%s holds the secret's plaintext (%q)", p, n)
			}
		}
		return nil
	})
	if files < 9 {
		t.Fatalf("searched only %d files; the data dirs are not where expected", files)
	}
}

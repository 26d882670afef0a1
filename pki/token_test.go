package pki

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"testing"
)

func mustToken(t testing.TB) Token {
	t.Helper()
	tok, err := NewToken(bytes.Repeat([]byte{7}, 32), mustCA(t, "test"))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func sameToken(a, b Token) bool {
	return bytes.Equal(a.GossipKey, b.GossipKey) && bytes.Equal(a.Secret, b.Secret) && a.CAFingerprint == b.CAFingerprint
}

func TestTokenRoundTrip(t *testing.T) {
	ca := mustCA(t, "test")
	tok, err := NewToken(bytes.Repeat([]byte{7}, 32), ca)
	if err != nil {
		t.Fatal(err)
	}
	if tok.CAFingerprint != ca.Fingerprint() || len(tok.Secret) != 32 {
		t.Errorf("token %+v", tok)
	}
	tok2, _ := NewToken(tok.GossipKey, ca)
	if bytes.Equal(tok.Secret, tok2.Secret) {
		t.Error("two tokens share a secret")
	}
	s := tok.String()
	if !strings.HasPrefix(s, "SHL2-") || !regexp.MustCompile(`^SHL2-[A-Za-z0-9_-]+$`).MatchString(s) {
		t.Errorf("token %q", s)
	}
	got, err := ParseToken("  " + s + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if !sameToken(got, tok) {
		t.Errorf("round trip: got %+v, want %+v", got, tok)
	}
	if _, err := NewToken(make([]byte, 16), ca); err == nil {
		t.Error("16-byte gossip key accepted")
	}
}

func TestParseTokenMalformed(t *testing.T) {
	good := mustToken(t)
	s := good.String()
	flip := []byte(s)
	if flip[20] == 'A' {
		flip[20] = 'B'
	} else {
		flip[20] = 'A'
	}
	short := func(f func(*Token)) string { t := mustToken(t); f(&t); return t.String() }
	// A payload with a valid checksum but bytes after the fields.
	raw, _ := base64.RawURLEncoding.DecodeString(s[5:])
	body := append(raw[:len(raw)-4:len(raw)-4], 0)
	sum := sha256.Sum256(body)
	trailing := "SHL2-" + base64.RawURLEncoding.EncodeToString(append(body, sum[:4]...))

	for _, tc := range []struct{ name, in, want string }{
		{"empty", "", "should start with SHL2- (copy it from <data-dir>/token on the first node)"},
		{"garbage", "hello", "should start with SHL2-"},
		{"version 1", "SHL1-" + strings.Repeat("A", 43), "version 1 join token"},
		{"lower-case prefix", "shl2-" + s[5:], "should start with SHL2-"},
		{"not base64", "SHL2-!!!!", "not base64url"},
		{"prefix only", "SHL2-", "truncated"},
		{"truncated", s[:len(s)-10], "truncated"},
		{"damaged", string(flip), "damaged"},
		{"short gossip key", short(func(t *Token) { t.GossipKey = t.GossipKey[:16] }), "gossip key is 16 bytes, want 32"},
		{"no secret", short(func(t *Token) { t.Secret = nil }), "join secret is 0 bytes, want 32"},
		{"bad fingerprint", short(func(t *Token) { t.CAFingerprint = "md5:abcd" }), "CA fingerprint is 0 bytes, want 32"},
		{"trailing bytes", trailing, "1 unexpected bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseToken(tc.in)
			if !errors.Is(err, ErrMalformedToken) {
				t.Fatalf("ParseToken(%q) = %v, want ErrMalformedToken", tc.in, err)
			}
			if !strings.HasPrefix(err.Error(), "pki: ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

func FuzzParseToken(f *testing.F) {
	f.Add(mustToken(f).String())
	f.Add("SHL2-")
	f.Add("SHL2-AAAA")
	f.Add("SHL1-" + strings.Repeat("A", 43))
	f.Add("garbage")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseToken(s)
		if err != nil {
			if !errors.Is(err, ErrMalformedToken) {
				t.Fatalf("error %v does not match ErrMalformedToken", err)
			}
			return
		}
		if len(tok.GossipKey) != 32 || len(tok.Secret) != 32 || !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(tok.CAFingerprint) {
			t.Fatalf("accepted a bad token %+v", tok)
		}
		back, err := ParseToken(tok.String())
		if err != nil || !sameToken(back, tok) {
			t.Fatalf("token does not round-trip: %v", err)
		}
	})
}

func TestSecretID(t *testing.T) {
	a, b := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	id := SecretID(a)
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) {
		t.Errorf("SecretID %q", id)
	}
	if id != SecretID(a) || id == SecretID(b) {
		t.Error("SecretID is not a stable, distinct name")
	}
	if strings.Contains(id, "0101") {
		t.Error("SecretID leaks the secret")
	}
}

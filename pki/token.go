package pki

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// TokenPrefix starts every version 2 join token.
const TokenPrefix = "SHL2-"

const (
	tokenKeyLen    = 32
	tokenSecretLen = 32
	tokenFPLen     = sha256.Size
	tokenSumLen    = 4
	fpPrefix       = "sha256:"
	tokenHint      = "(copy it from <data-dir>/token on the first node)"
)

// Token is the version 2 join token, after Docker Swarm's: what a node
// needs to join. The gossip key lets it into gossip, the secret lets it ask
// for a certificate (see JoinProof), and the CA fingerprint lets it check the
// cluster before it trusts it (see PinnedClientTLS).
type Token struct {
	GossipKey     []byte // 32 bytes
	Secret        []byte // 32 bytes
	CAFingerprint string // "sha256:" + 64 hex digits, as CA.Fingerprint
}

// NewToken returns a token for the cluster whose CA is ca, with a fresh
// random secret.
func NewToken(gossipKey []byte, ca *CA) (Token, error) {
	if len(gossipKey) != tokenKeyLen {
		return Token{}, fmt.Errorf("pki: the gossip key is %d bytes, want %d", len(gossipKey), tokenKeyLen)
	}
	secret := make([]byte, tokenSecretLen)
	if _, err := rand.Read(secret); err != nil {
		return Token{}, fmt.Errorf("pki: generating the join secret: %w", err)
	}
	return Token{
		GossipKey:     append([]byte(nil), gossipKey...),
		Secret:        secret,
		CAFingerprint: ca.Fingerprint(),
	}, nil
}

// String encodes the token as "SHL2-" and the unpadded base64url of:
// three fields, each a length byte and its bytes (gossip key, secret, raw
// SHA-256 of the CA certificate), then the first 4 bytes of the SHA-256 of
// all that, so a token damaged in copying is told apart from a wrong one.
// ParseToken(t.String()) returns t for every valid t; an invalid t (wrong
// lengths, a fingerprint that is not "sha256:" and 64 hex digits) encodes
// to a string ParseToken refuses with an error that says which field is bad.
func (t Token) String() string {
	fp, err := hex.DecodeString(strings.TrimPrefix(t.CAFingerprint, fpPrefix))
	if err != nil || !strings.HasPrefix(t.CAFingerprint, fpPrefix) {
		fp = nil
	}
	var b []byte
	for _, field := range [][]byte{t.GossipKey, t.Secret, fp} {
		if len(field) > 255 {
			field = field[:0] // cannot be valid; ParseToken reports it as empty
		}
		b = append(b, byte(len(field)))
		b = append(b, field...)
	}
	sum := sha256.Sum256(b)
	b = append(b, sum[:tokenSumLen]...)
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// ParseToken reads a join token, ignoring surrounding white space. Its
// errors match ErrMalformedToken and say what is wrong.
func ParseToken(s string) (Token, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, TokenPrefix) {
		if strings.HasPrefix(s, "SHL1-") {
			return Token{}, errorf(ErrMalformedToken, "this is a version 1 join token (SHL1-), which carries no CA fingerprint; this cluster needs a version 2 token starting with %s %s", TokenPrefix, tokenHint)
		}
		return Token{}, errorf(ErrMalformedToken, "the join token is malformed: it should start with %s %s", TokenPrefix, tokenHint)
	}
	b, err := base64.RawURLEncoding.DecodeString(s[len(TokenPrefix):])
	if err != nil {
		return Token{}, errorf(ErrMalformedToken, "the join token is malformed: it is not base64url after %s (%v) %s", TokenPrefix, err, tokenHint)
	}
	// Shortest possible valid payload: three full fields and the checksum.
	const want = 3 + tokenKeyLen + tokenSecretLen + tokenFPLen + tokenSumLen
	if len(b) < tokenSumLen+3 {
		return Token{}, errorf(ErrMalformedToken, "the join token is truncated: %d bytes after %s, want %d %s", len(b), TokenPrefix, want, tokenHint)
	}
	body, sum := b[:len(b)-tokenSumLen], b[len(b)-tokenSumLen:]
	if got := sha256.Sum256(body); !hmac.Equal(got[:tokenSumLen], sum) {
		if len(b) < want {
			return Token{}, errorf(ErrMalformedToken, "the join token is truncated: %d bytes after %s, want %d %s", len(b), TokenPrefix, want, tokenHint)
		}
		return Token{}, errorf(ErrMalformedToken, "the join token is damaged: its checksum does not match (was it copied in full, without changes?) %s", tokenHint)
	}
	var fields [3][]byte
	for i := range fields {
		if len(body) == 0 || len(body) < 1+int(body[0]) {
			return Token{}, errorf(ErrMalformedToken, "the join token is malformed: it ends inside field %d %s", i+1, tokenHint)
		}
		n := int(body[0])
		fields[i] = append([]byte(nil), body[1:1+n]...)
		body = body[1+n:]
	}
	if len(body) != 0 {
		return Token{}, errorf(ErrMalformedToken, "the join token is malformed: %d unexpected bytes after its fields %s", len(body), tokenHint)
	}
	for i, f := range []struct {
		name string
		want int
	}{{"gossip key", tokenKeyLen}, {"join secret", tokenSecretLen}, {"CA fingerprint", tokenFPLen}} {
		if len(fields[i]) != f.want {
			return Token{}, errorf(ErrMalformedToken, "the join token is malformed: its %s is %d bytes, want %d %s", f.name, len(fields[i]), f.want, tokenHint)
		}
	}
	return Token{
		GossipKey:     fields[0],
		Secret:        fields[1],
		CAFingerprint: fpPrefix + hex.EncodeToString(fields[2]),
	}, nil
}

// SecretID names a join secret without revealing it: the hex of the first
// 16 bytes of its SHA-256. Record and compare it instead of the secret.
func SecretID(secret []byte) string {
	sum := sha256.Sum256(secret)
	return hex.EncodeToString(sum[:16])
}

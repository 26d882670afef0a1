package pki

import (
	"bytes"
	"errors"
	"sync"
	"testing"
)

func mustSealer(t *testing.T) *Sealer {
	t.Helper()
	k, err := NewSealKey()
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSealer(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSealRoundTrip(t *testing.T) {
	s := mustSealer(t)
	for _, pt := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte("secret"), 1000)} {
		sealed, err := s.Seal(pt, []byte("secret/default/db"))
		if err != nil {
			t.Fatal(err)
		}
		if sealed[0] != 1 || len(sealed) != 1+12+len(pt)+16 {
			t.Errorf("sealed layout: version %d, length %d", sealed[0], len(sealed))
		}
		if len(pt) >= 8 && bytes.Contains(sealed, pt) { // a short plaintext may occur in random bytes by chance
			t.Error("plaintext visible in the sealed data")
		}
		got, err := s.Open(sealed, []byte("secret/default/db"))
		if err != nil || !bytes.Equal(got, pt) {
			t.Errorf("Open: %q, %v", got, err)
		}
	}
}

func TestSealTwiceDiffers(t *testing.T) {
	s := mustSealer(t)
	a, _ := s.Seal([]byte("same"), nil)
	b, _ := s.Seal([]byte("same"), nil)
	if bytes.Equal(a, b) || bytes.Equal(a[1:13], b[1:13]) {
		t.Error("two seals of the same plaintext are equal or share a nonce")
	}
}

func TestOpenRefusals(t *testing.T) {
	s := mustSealer(t)
	sealed, _ := s.Seal([]byte("hunter2"), []byte("ad"))

	if _, err := mustSealer(t).Open(sealed, []byte("ad")); !errors.Is(err, ErrDecrypt) || err.Error() != "pki: cannot decrypt: wrong key or corrupted data" {
		t.Errorf("wrong key: %v", err)
	}
	if _, err := s.Open(sealed, []byte("other")); !errors.Is(err, ErrDecrypt) {
		t.Errorf("wrong additional data: %v", err)
	}
	for i := 1; i < len(sealed); i++ { // every nonce, ciphertext and tag byte
		bad := bytes.Clone(sealed)
		bad[i] ^= 0x01
		if _, err := s.Open(bad, []byte("ad")); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
	}
	bad := bytes.Clone(sealed)
	bad[0] = 2
	if _, err := s.Open(bad, []byte("ad")); !errors.Is(err, ErrSealVersion) {
		t.Errorf("unknown version: %v", err)
	}
	for _, n := range []int{0, 1, 13, len(sealed) - 1} {
		if _, err := s.Open(sealed[:n], []byte("ad")); !errors.Is(err, ErrDecrypt) {
			t.Errorf("truncated to %d: %v", n, err)
		}
	}
	if _, err := NewSealer(make([]byte, 16)); !errors.Is(err, ErrBadKeyLength) {
		t.Errorf("16-byte key: %v", err)
	}
}

func TestSealerConcurrent(t *testing.T) {
	s := mustSealer(t)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				sealed, err := s.Seal([]byte{byte(j)}, nil)
				if err != nil {
					t.Error(err)
					return
				}
				if pt, err := s.Open(sealed, nil); err != nil || pt[0] != byte(j) {
					t.Error("concurrent round trip failed", err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

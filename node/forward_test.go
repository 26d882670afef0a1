package node

import (
	"bytes"
	"testing"
)

// decodeBatch takes back what encodeBatch framed, and refuses anything cut
// short or malformed with an error, never a panic.
func FuzzDecodeBatch(f *testing.F) {
	f.Add(encodeBatch([][]byte{[]byte("\x01{}"), {}, []byte("\x01{\"ops\":[]}")}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{5, 1, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		cmds, err := decodeBatch(b)
		if err != nil {
			return
		}
		if again := encodeBatch(cmds); !bytes.Equal(again, b) {
			// Uvarints have one shortest form; a longer one decodes too.
			back, err := decodeBatch(again)
			if err != nil || len(back) != len(cmds) {
				t.Fatalf("re-encoded batch of %d commands decodes to %d (%v)", len(cmds), len(back), err)
			}
		}
	})
}

func TestBatchRoundTrip(t *testing.T) {
	in := [][]byte{[]byte("\x01{\"a\":1}"), bytes.Repeat([]byte("x"), 300), []byte("\x01")}
	out, err := decodeBatch(encodeBatch(in))
	if err != nil || len(out) != len(in) {
		t.Fatalf("round trip: %d commands, %v", len(out), err)
	}
	for i := range in {
		if !bytes.Equal(in[i], out[i]) {
			t.Fatalf("command %d: %q, want %q", i, out[i], in[i])
		}
	}
	for _, bad := range [][]byte{nil, {3, 'a'}, {0x80}} {
		if _, err := decodeBatch(bad); err == nil {
			t.Errorf("decodeBatch(%q) took a malformed batch", bad)
		}
	}
}

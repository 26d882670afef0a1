package api

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
)

func TestFramesRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	fw := NewFrameWriter(&buf)
	big := bytes.Repeat([]byte("x"), 2*MaxFramePayload+10)
	if err := fw.WriteFrame(StreamStdout, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if _, err := fw.Stream(StreamStderr).Write(big); err != nil {
		t.Fatal(err)
	}
	if err := fw.WriteFrame(StreamStdinEOF, nil); err != nil {
		t.Fatal(err)
	}
	if err := fw.WriteFrame(StreamExit, []byte("3")); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		stream byte
		n      int
	}{{StreamStdout, 5}, {StreamStderr, MaxFramePayload}, {StreamStderr, MaxFramePayload}, {StreamStderr, 10}, {StreamStdinEOF, 0}, {StreamExit, 1}}
	for i, w := range want {
		s, p, err := ReadFrame(&buf)
		if err != nil || s != w.stream || len(p) != w.n {
			t.Fatalf("frame %d = %d, %d bytes, %v; want %d, %d bytes", i, s, len(p), err, w.stream, w.n)
		}
	}
	if _, _, err := ReadFrame(&buf); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
}

func TestReadFrameRejectsBadInput(t *testing.T) {
	// Cut inside the payload.
	var buf bytes.Buffer
	NewFrameWriter(&buf).WriteFrame(StreamStdout, []byte("hello"))
	if _, _, err := ReadFrame(bytes.NewReader(buf.Bytes()[:7])); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated frame: %v, want ErrUnexpectedEOF", err)
	}
	// Cut inside the header.
	if _, _, err := ReadFrame(strings.NewReader("\x01\x00")); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated header: %v, want ErrUnexpectedEOF", err)
	}
	// An HTTP answer is not a frame stream.
	if _, _, err := ReadFrame(strings.NewReader("HTTP/1.1 200 OK\r\n")); err == nil || !strings.Contains(err.Error(), ExecProtocol) {
		t.Errorf("HTTP text read as a frame: %v", err)
	}
}

// Frames written from several goroutines arrive whole.
func TestFrameWriterConcurrent(t *testing.T) {
	pr, pw := io.Pipe()
	fw := NewFrameWriter(pw)
	var wg sync.WaitGroup
	for s := range byte(3) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				fw.Stream(s).Write(bytes.Repeat([]byte{'a' + s}, 1000))
			}
		}()
	}
	go func() { wg.Wait(); pw.Close() }()
	count := 0
	for {
		s, p, err := ReadFrame(pr)
		if err == io.EOF {
			break
		}
		if err != nil || len(p) != 1000 || bytes.Count(p, []byte{'a' + s}) != 1000 {
			t.Fatalf("frame %d: stream %d, %d bytes, %v: interleaved", count, s, len(p), err)
		}
		count++
	}
	if count != 300 {
		t.Fatalf("%d frames, want 300", count)
	}
}

func TestTerminalSize(t *testing.T) {
	sz := TerminalSize{Width: 120, Height: 40}
	got, err := ParseTerminalSize([]byte(sz.String()))
	if err != nil || got != sz {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	for _, bad := range []string{"", "120", "120x40", "a b", "70000 1"} {
		if _, err := ParseTerminalSize([]byte(bad)); err == nil {
			t.Errorf("ParseTerminalSize(%q) succeeded", bad)
		}
	}
}

package api

import (
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
)

// An exec session (POST .../pods/NAME/exec) starts as an HTTP/1.1 request
// with "Connection: Upgrade" and "Upgrade: shoal-exec/1". The agent answers
// 101 Switching Protocols, and from then on both sides send frames on the
// raw connection: one byte naming the stream, a 4-byte big-endian payload
// length, then the payload. The client sends stdin, resize and stdin-EOF
// frames; the agent sends stdout and stderr frames, then exactly one exit
// or error frame, and closes the connection. Errors found before the
// upgrade are ordinary JSON Status answers.

// ExecProtocol is the Upgrade token of an exec session.
const ExecProtocol = "shoal-exec/1"

// The streams of an exec session: the first byte of each frame.
const (
	StreamStdin    byte = 0 // client to agent: input for the command
	StreamStdout   byte = 1 // agent to client
	StreamStderr   byte = 2 // agent to client; unused with a TTY
	StreamExit     byte = 3 // agent to client, last: the exit code in decimal
	StreamResize   byte = 4 // client to agent: the terminal's "WIDTH HEIGHT"
	StreamStdinEOF byte = 5 // client to agent: stdin has ended (no payload)
	StreamError    byte = 6 // agent to client, last: why the command could not run
)

// MaxFramePayload bounds one frame's payload. FrameWriter splits larger
// writes; ReadFrame refuses larger frames.
const MaxFramePayload = 64 << 10

const frameHeader = 5

// ReadFrame reads one frame from r. It returns io.EOF when r ends cleanly
// between frames, and io.ErrUnexpectedEOF when it ends inside one.
func ReadFrame(r io.Reader) (stream byte, payload []byte, err error) {
	var h [frameHeader]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(h[1:])
	if n > MaxFramePayload {
		return 0, nil, fmt.Errorf("exec stream: a frame of %d bytes is larger than %d: the peer does not speak %s", n, MaxFramePayload, ExecProtocol)
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	return h[0], payload, nil
}

// FrameWriter writes frames to one connection. It is safe for concurrent
// use, so stdout, stderr and the exit code (or stdin and resizes) can
// share it; each frame goes out whole, in one Write.
type FrameWriter struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

// NewFrameWriter returns a FrameWriter on w.
func NewFrameWriter(w io.Writer) *FrameWriter { return &FrameWriter{w: w} }

// WriteFrame sends payload on stream, as several frames if it is larger
// than MaxFramePayload. An empty payload sends one empty frame.
func (f *FrameWriter) WriteFrame(stream byte, payload []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for first := true; first || len(payload) > 0; first = false {
		chunk := payload[:min(len(payload), MaxFramePayload)]
		payload = payload[len(chunk):]
		f.buf = append(f.buf[:0], stream, 0, 0, 0, 0)
		binary.BigEndian.PutUint32(f.buf[1:frameHeader], uint32(len(chunk)))
		f.buf = append(f.buf, chunk...)
		if _, err := f.w.Write(f.buf); err != nil {
			return err
		}
	}
	return nil
}

// Stream returns an io.Writer whose writes become frames of stream.
func (f *FrameWriter) Stream(stream byte) io.Writer { return streamWriter{f, stream} }

type streamWriter struct {
	f      *FrameWriter
	stream byte
}

func (s streamWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if err := s.f.WriteFrame(s.stream, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// TerminalSize is a terminal's size in characters.
type TerminalSize struct{ Width, Height uint16 }

// String is the payload of a resize frame: "WIDTH HEIGHT".
func (s TerminalSize) String() string {
	return strconv.Itoa(int(s.Width)) + " " + strconv.Itoa(int(s.Height))
}

// ParseTerminalSize reads a resize frame's payload.
func ParseTerminalSize(p []byte) (TerminalSize, error) {
	w, h, ok := strings.Cut(string(p), " ")
	wi, werr := strconv.ParseUint(w, 10, 16)
	hi, herr := strconv.ParseUint(h, 10, 16)
	if !ok || werr != nil || herr != nil {
		return TerminalSize{}, fmt.Errorf("exec stream: resize %q is not \"WIDTH HEIGHT\"", p)
	}
	return TerminalSize{Width: uint16(wi), Height: uint16(hi)}, nil
}

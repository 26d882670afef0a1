package runtime_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/clock"
	"github.com/shoal-dev/shoal/runtime"
)

// lines returns "line from..to-1\n" for each number.
func logLines(from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	return b.String()
}

func logReadAll(t *testing.T, path string, opts runtime.LogOptions) string {
	t.Helper()
	var b bytes.Buffer
	if err := runtime.ReadLog(context.Background(), path, opts, &b, nil); err != nil {
		t.Fatalf("ReadLog(%+v): %v", opts, err)
	}
	return b.String()
}

func TestReadLogTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	// 200,000 lines, about 2.5 MB: many times the backwards read chunk.
	all := logLines(0, 200000)
	if err := os.WriteFile(path, []byte(all), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		tail int
		want string
	}{
		{3, logLines(199997, 200000)},
		{1, logLines(199999, 200000)},
		{0, ""},
		{5000, logLines(195000, 200000)},
		{-1, all},
		{300000, all},
	} {
		if got := logReadAll(t, path, runtime.LogOptions{TailLines: c.tail}); got != c.want {
			t.Errorf("tail %d: got %d bytes, want %d (starts %q)", c.tail, len(got), len(c.want), got[:min(len(got), 20)])
		}
	}
	if got := logReadAll(t, path, runtime.LogOptions{TailLines: -1, LimitBytes: 10}); got != "line 0\nlin" {
		t.Errorf("LimitBytes 10: %q", got)
	}

	// A last line without its newline is still a line.
	if err := os.WriteFile(path, []byte("a\nb\nc"), 0o644); err != nil {
		t.Fatal(err)
	}
	for tail, want := range map[int]string{1: "c", 2: "b\nc", 3: "a\nb\nc", 4: "a\nb\nc"} {
		if got := logReadAll(t, path, runtime.LogOptions{TailLines: tail}); got != want {
			t.Errorf("tail %d of an unterminated log: %q, want %q", tail, got, want)
		}
	}

	// No file yet is an empty log.
	if got := logReadAll(t, filepath.Join(t.TempDir(), "none.log"), runtime.LogOptions{TailLines: -1}); got != "" {
		t.Errorf("missing log: %q", got)
	}
}

func TestReadLogIncludesRotatedCopy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	if err := os.WriteFile(path+".1", []byte(logLines(0, 10)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(logLines(10, 13)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		tail int
		want string
	}{
		{2, logLines(11, 13)},
		{3, logLines(10, 13)},
		{5, logLines(8, 13)},
		{-1, logLines(0, 13)},
		{100, logLines(0, 13)},
	} {
		if got := logReadAll(t, path, runtime.LogOptions{TailLines: c.tail}); got != c.want {
			t.Errorf("tail %d: %q, want %q", c.tail, got, c.want)
		}
	}
}

// logBuf is a buffer a following ReadLog writes to while the test reads.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *logBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *logBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func logWaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// follow starts a following ReadLog of path; the returned function marks
// the container exited and waits for ReadLog's result.
func logFollow(t *testing.T, path string, opts runtime.LogOptions) (*logBuf, func() error) {
	t.Helper()
	opts.Follow = true
	var out logBuf
	var exited atomic.Bool
	errc := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	go func() { errc <- runtime.ReadLog(ctx, path, opts, &out, exited.Load) }()
	return &out, func() error {
		exited.Store(true)
		select {
		case err := <-errc:
			return err
		case <-time.After(5 * time.Second):
			t.Fatal("a following ReadLog did not end after the container exited")
			return nil
		}
	}
}

// appender opens path as the shim does: O_APPEND, kept open across
// rotations.
func logAppender(t *testing.T, path string) func(string) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return func(s string) {
		if _, err := f.WriteString(s); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReadLogFollow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	write := logAppender(t, path)
	write(logLines(0, 5))
	out, stop := logFollow(t, path, runtime.LogOptions{TailLines: 2})
	logWaitFor(t, "the tail", func() bool { return out.String() == logLines(3, 5) })
	write(logLines(5, 8))
	logWaitFor(t, "appended lines", func() bool { return out.String() == logLines(3, 8) })
	// Output written just before the exit is still delivered.
	write(logLines(8, 9))
	if err := stop(); err != nil {
		t.Fatalf("ReadLog: %v", err)
	}
	if got := out.String(); got != logLines(3, 9) {
		t.Fatalf("followed %q, want %q", got, logLines(3, 9))
	}
}

func TestReadLogFollowWaitsForTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	out, stop := logFollow(t, path, runtime.LogOptions{TailLines: -1})
	time.Sleep(150 * time.Millisecond)
	logAppender(t, path)("first\n")
	logWaitFor(t, "the first line", func() bool { return out.String() == "first\n" })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestReadLogFollowSurvivesRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	write := logAppender(t, path)
	write(logLines(0, 10))
	out, stop := logFollow(t, path, runtime.LogOptions{TailLines: -1})
	logWaitFor(t, "the first lines", func() bool { return out.String() == logLines(0, 10) })
	// Lines the reader may not have seen when the rotation happens come
	// from the rotated copy; then reading starts over at the top.
	write(logLines(10, 15))
	if ok, err := runtime.RotateLog(path, 10); err != nil || !ok {
		t.Fatalf("RotateLog = %v, %v", ok, err)
	}
	write(logLines(15, 17))
	logWaitFor(t, "the lines after the rotation", func() bool { return out.String() == logLines(0, 17) })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != logLines(0, 17) {
		t.Fatalf("followed across a rotation:\n%s\nwant\n%s", got, logLines(0, 17))
	}
}

func TestReadLogFollowEndsWithContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	logAppender(t, path)("x\n")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	var out bytes.Buffer
	err := runtime.ReadLog(ctx, path, runtime.LogOptions{Follow: true, TailLines: -1}, &out, nil)
	if err != context.DeadlineExceeded || out.String() != "x\n" {
		t.Fatalf("ReadLog = %v, %q; want DeadlineExceeded after x", err, out.String())
	}
}

func TestRotateLogKeepsOneOldFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.log")
	write := logAppender(t, path)
	if ok, err := runtime.RotateLog(filepath.Join(dir, "missing.log"), 10); ok || err != nil {
		t.Fatalf("RotateLog of a missing file = %v, %v", ok, err)
	}
	write("short\n")
	if ok, err := runtime.RotateLog(path, 100); ok || err != nil {
		t.Fatalf("RotateLog under the limit = %v, %v", ok, err)
	}
	write(logLines(0, 20))
	if ok, err := runtime.RotateLog(path, 100); !ok || err != nil {
		t.Fatalf("RotateLog over the limit = %v, %v", ok, err)
	}
	write(logLines(20, 40))
	if ok, err := runtime.RotateLog(path, 100); !ok || err != nil {
		t.Fatalf("second RotateLog = %v, %v", ok, err)
	}
	// The writer's O_APPEND descriptor writes at the new end.
	write("after\n")
	check := func(name, want string) {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", name, b, err, want)
		}
	}
	check("c.log", "after\n")
	check("c.log.1", logLines(20, 40))
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "c.log c.log.1" {
		t.Errorf("files after two rotations: %v; want c.log and c.log.1 only", names)
	}
	if got := logReadAll(t, path, runtime.LogOptions{TailLines: -1}); got != logLines(20, 40)+"after\n" {
		t.Errorf("the whole log after rotation: %q", got)
	}
}

func TestFakeLogs(t *testing.T) {
	ctx := context.Background()
	f := newFake(clock.Real{})
	f.SetLogDir(t.TempDir())
	id, err := f.Create(ctx, runtime.ContainerSpec{PodUID: "u", Name: "c", Image: testImage})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.WriteLog(id, "one\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.WriteLog(id, "two\n"); err != nil {
		t.Fatal(err)
	}
	if got := logReadAll(t, f.LogPath(id), runtime.LogOptions{TailLines: -1}); got != "one\ntwo\n" {
		t.Fatalf("log = %q", got)
	}
	if f.Reopen().LogPath(id) != f.LogPath(id) {
		t.Error("a reopened Fake looks for logs elsewhere")
	}
	if err := f.Remove(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(f.LogPath(id)); !os.IsNotExist(err) {
		t.Errorf("the log survives Remove: %v", err)
	}
}

package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Container logs are plain files that the shim appends the container's
// stdout and stderr to (Runtime.LogPath), with nothing in between: no
// timestamps, no stream marks. RotateLog caps a file by copytruncate and
// keeps one older copy at path+".1"; ReadLog reads both as one log.

// LogOptions say what part of a log ReadLog writes.
type LogOptions struct {
	// Follow keeps copying what is appended until the container exits.
	Follow bool
	// TailLines is how many of the last lines to start with; a negative
	// number means the whole log, 0 none (with Follow: only new output).
	TailLines int
	// LimitBytes stops ReadLog after that many bytes; 0 means no limit.
	LimitBytes int64
}

// logPollInterval is how often a following ReadLog looks for new output.
const logPollInterval = 100 * time.Millisecond

// tailChunk is how much ReadLog reads at a time when it looks for the last
// lines, going backwards from the end.
const tailChunk = 32 << 10

// errLogLimit stops a ReadLog that has written LimitBytes.
var errLogLimit = errors.New("runtime: log limit reached")

// ReadLog writes container log path to w as opts say: the last TailLines
// lines (found by reading backwards from the end, so a large log costs
// only what is shown), taken from path+".1" first when they reach back
// past the last rotation; then, with Follow, whatever is appended, polling
// every 100 ms, until ctx ends or done reports that the container has
// exited and the file is drained. A nil done never reports an exit.
//
// A rotation (the file shrinks: RotateLog truncated it) is followed: the
// bytes that arrived before it are read from path+".1", then reading
// starts again at the top of path. A missing file is an empty log (the
// container has not started); with Follow, ReadLog waits for it.
//
// ReadLog returns nil when it is done, ctx's error when ctx ended, and
// the write error when w fails (the reader went away). It only reads, so
// any number may run at once on one file.
func ReadLog(ctx context.Context, path string, opts LogOptions, w io.Writer, done func() bool) error {
	if done == nil {
		done = func() bool { return false }
	}
	if opts.LimitBytes > 0 {
		w = &limitWriter{w: w, left: opts.LimitBytes}
	}
	err := readLog(ctx, path, opts, w, done)
	if errors.Is(err, errLogLimit) {
		return nil
	}
	return err
}

func readLog(ctx context.Context, path string, opts LogOptions, w io.Writer, done func() bool) error {
	f, err := os.Open(path)
	for errors.Is(err, os.ErrNotExist) {
		if !opts.Follow {
			// Nothing yet; an old copy alone is still worth showing.
			return writeTail(path+".1", opts.TailLines, w)
		}
		exited := done()
		if f, err = os.Open(path); err == nil || exited {
			break
		}
		if err := sleepCtx(ctx, logPollInterval); err != nil {
			return err
		}
	}
	if errors.Is(err, os.ErrNotExist) {
		return nil // exited without ever writing a byte
	}
	if err != nil {
		return fmt.Errorf("container log %s: %w", path, err)
	}
	defer f.Close()

	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("container log %s: %w", path, err)
	}
	size := fi.Size()
	start, found, err := tailStart(f, size, opts.TailLines)
	if err != nil {
		return fmt.Errorf("container log %s: %w", path, err)
	}
	if opts.TailLines < 0 || found < opts.TailLines {
		more := -1
		if opts.TailLines >= 0 {
			more = opts.TailLines - found
		}
		if err := writeTail(path+".1", more, w); err != nil {
			return err
		}
	}
	if _, err := io.Copy(w, io.NewSectionReader(f, start, size-start)); err != nil {
		return err
	}
	if !opts.Follow {
		return nil
	}

	off := size
	for {
		exited := done()
		fi, err := f.Stat()
		if err != nil {
			return fmt.Errorf("container log %s: %w", path, err)
		}
		if fi.Size() < off {
			// Truncated by a copytruncate rotation: what came between our
			// last read and the copy is in the rotated file.
			if err := copyRange(path+".1", off, w); err != nil {
				return err
			}
			off = 0
		}
		n, err := io.Copy(w, io.NewSectionReader(f, off, fi.Size()-off))
		off += n
		if err != nil {
			return err
		}
		if exited && n == 0 {
			return nil
		}
		if n == 0 {
			if err := sleepCtx(ctx, logPollInterval); err != nil {
				return err
			}
		} else if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// writeTail writes the last n lines of file path (all of it when n < 0)
// to w. A missing file writes nothing.
func writeTail(path string, n int, w io.Writer) error {
	if n == 0 {
		return nil
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("container log %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("container log %s: %w", path, err)
	}
	start, _, err := tailStart(f, fi.Size(), n)
	if err != nil {
		return fmt.Errorf("container log %s: %w", path, err)
	}
	_, err = io.Copy(w, io.NewSectionReader(f, start, fi.Size()-start))
	return err
}

// copyRange writes what file path holds from offset from to its end.
func copyRange(path string, from int64, w io.Writer) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("container log %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() <= from {
		return err
	}
	_, err = io.Copy(w, io.NewSectionReader(f, from, fi.Size()-from))
	return err
}

// tailStart returns the offset of the first of the last n lines among the
// first size bytes of r, and how many lines there are from there (fewer
// than n when r holds fewer). A negative n means every line: offset 0.
// The last line counts whether or not a newline ends it.
func tailStart(r io.ReaderAt, size int64, n int) (start int64, found int, err error) {
	if n < 0 {
		return 0, -1, nil
	}
	if n == 0 || size == 0 {
		return size, 0, nil
	}
	buf := make([]byte, tailChunk)
	lines := 0
	for pos := size; pos > 0; {
		from := max(0, pos-tailChunk)
		b := buf[:pos-from]
		if _, err := r.ReadAt(b, from); err != nil && !errors.Is(err, io.EOF) {
			return 0, 0, err
		}
		for i := len(b) - 1; i >= 0; i-- {
			if b[i] != '\n' || from+int64(i) == size-1 {
				continue // not a newline, or the one that ends the last line
			}
			if lines++; lines == n {
				return from + int64(i) + 1, n, nil
			}
		}
		pos = from
	}
	return 0, lines + 1, nil
}

// RotateLog caps container log path at maxBytes: once the file is larger,
// it copies it to path+".1" (replacing the older copy) and truncates it in
// place. The file is truncated, not renamed, because the shim keeps
// appending through the descriptor it opened with O_APPEND (copytruncate);
// output written between the copy and the truncation is lost. It reports
// whether it rotated. A missing file is not an error. RotateLog must not
// run twice at once on one file; ReadLog may run alongside.
func RotateLog(path string, maxBytes int64) (bool, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("rotate container log %s: %w", path, err)
	}
	if fi.Size() <= maxBytes {
		return false, nil
	}
	src, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("rotate container log %s: %w", path, err)
	}
	defer src.Close()
	tmp := path + ".1.tmp"
	dst, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return false, fmt.Errorf("rotate container log %s: %w", path, err)
	}
	_, err = io.Copy(dst, src)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// The rename replaces the older copy in one step, so a reader
		// never sees a half-written .1.
		err = os.Rename(tmp, path+".1")
	}
	if err != nil {
		os.Remove(tmp)
		return false, fmt.Errorf("rotate container log %s: %w (is the disk full?)", path, err)
	}
	if err := os.Truncate(path, 0); err != nil {
		return false, fmt.Errorf("rotate container log %s: truncate: %w", path, err)
	}
	return true, nil
}

// limitWriter writes at most left bytes, then fails with errLogLimit.
type limitWriter struct {
	w    io.Writer
	left int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, errLogLimit
	}
	short := int64(len(p)) > l.left
	if short {
		p = p[:l.left]
	}
	n, err := l.w.Write(p)
	l.left -= int64(n)
	if err == nil && short {
		err = errLogLimit
	}
	return n, err
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Package clock gives reconcilers and timers an injectable notion of time.
// Real is the wall clock; Fake is advanced by tests so that nothing waits on
// real sleeps. Both are safe for concurrent use. The package imports nothing
// of shoal's, so every other package may use it.
package clock

// Package api holds shoal's resource types, with Kubernetes field names, and
// the pieces every other package shares about them: the registry of kinds and
// their HTTP paths, object metadata, typed errors that map onto HTTP status
// codes, and the HTTP client used by the CLI and by agents talking to each other.
//
// The package imports nothing else of shoal's. Types here are plain data: they
// are safe to read from many goroutines, and nothing in this package mutates an
// object it did not create. Objects returned by the state store are shared and
// must be treated as read-only; call Copy before changing one.
package api

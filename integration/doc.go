// Package integration holds shoal's tests that run whole agents as separate
// processes: kill -9 of a leader, failover and throughput benchmarks, and
// (later) multi-host scenarios in network namespaces. It builds the shoal
// binary once per run. Each agent gets its own 127.x.y.z address, so tests
// in different packages never collide on ports.
package integration

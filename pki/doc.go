// Package pki holds the cluster's public-key infrastructure and the sealing of
// secret data at rest.
//
// The cluster has one certificate authority (CA): an ECDSA P-256 key and a
// self-signed certificate, created by the first node. Every node holds the CA
// certificate; only nodes that sign certificates hold the CA key (CA.Key is nil
// elsewhere). Certificates carry their holder's name in the Subject's
// CommonName and the holder's role (RoleNode, RoleAdmin, RoleReadOnly) in
// Subject.Organization[0]. A certificate without a role is never accepted.
//
// A joining node proves it holds the join token's secret without sending it
// (JoinProof), sends a CSR for a key it generated itself (NewCSR), and checks
// the server it talks to against the CA fingerprint in the token
// (PinnedClientTLS). Once it has a certificate, ServerTLS and ClientTLS check
// every peer against the CA. Those configurations take the certificate from a
// Keypair on every handshake, so Keypair.Set renews a certificate without a
// restart.
//
// Concurrency: CA, Token and Identity are plain values; treat a CA as
// read-only once it is shared. Keypair and Sealer are safe for concurrent use.
// Every other function is stateless and safe to call from any goroutine. The
// *tls.Config values returned here may be shared by many connections, as
// crypto/tls allows; do not modify one after it is in use.
//
// Files: private keys and secrets are written with mode 0600 and
// certificates with 0644, always atomically (a synced temporary file renamed
// into place, then the directory synced), so a crash leaves either the old
// file or the new one. SaveCA writes ca.crt and ca.key; the key file is
// written only when the CA has a key. Writing is idempotent.
//
// Errors: every sentinel error starts with "pki: "; errors returned to callers
// may carry a longer message that says what to do, and match the sentinel with
// errors.Is.
//
// The package uses only the Go standard library and imports nothing of
// shoal's, so every other package may use it. Functions that need the time
// take it as an argument (now) instead of reading a clock.
package pki

package node

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/apiserver"
)

func (a *Agent) serveHTTP() error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", a.handleReady)
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /v1/status", a.handleStatus)
	mux.HandleFunc("GET /v1/members", a.handleMembers)
	mux.HandleFunc("POST /v1/node/leave", a.handleLeave)
	mux.HandleFunc("POST /internal/v1/propose", a.handlePropose)
	mux.HandleFunc("POST /internal/v1/propose-batch", a.handleProposeBatch)
	mux.HandleFunc("GET /internal/v1/progress", a.handleProgress)
	mux.HandleFunc("POST /internal/v1/raft/remove", a.handleRaftRemove)
	mux.HandleFunc("POST /internal/v1/certs/renew", a.handleRenew)
	mux.HandleFunc("POST /v1/join", a.handleJoin)
	mux.HandleFunc("POST /v1/apply", a.handleApply)
	mux.HandleFunc("POST /v1/images", a.handleImageImport)
	mux.HandleFunc("GET /v1/images", a.handleImageList)
	mux.HandleFunc("POST /internal/v1/images", a.handleImageImportHere)
	mux.HandleFunc("GET /v1/credentials", a.handleListCredentials)
	mux.HandleFunc("POST /v1/credentials", a.handleCreateCredential)
	mux.HandleFunc("DELETE /v1/credentials/{name}", a.handleRevokeCredential)
	mux.HandleFunc("GET /v1/token", a.handleShowToken)
	mux.HandleFunc("POST /v1/token/rotate", a.handleRotateToken)
	mux.HandleFunc("POST /v1/token/create", a.handleCreateToken)
	mux.HandleFunc("GET /api/v1/namespaces/{ns}/pods/{name}/log", a.handlePodLog)
	mux.HandleFunc("POST /api/v1/namespaces/{ns}/pods/{name}/exec", a.handlePodExec)
	// Go's profiler, for admins, as Kubernetes' --profiling serves it.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/api/", a.handleObjects)
	mux.HandleFunc("/apis/", a.handleObjects)
	apiserver.NewDiscovery(a.cfg.Version, api.Resources()).Register(mux)
	ln, err := net.Listen("tcp", a.cfg.apiBind())
	if err != nil {
		return fmt.Errorf("listen for the API on %s: %w (is another agent running? change --api-port)", a.cfg.apiBind(), err)
	}
	if a.sec != nil {
		ln = tls.NewListener(ln, a.sec.server)
	}
	a.http = &http.Server{
		Handler:           a.instrument(a.authenticate(mux)),
		ReadHeaderTimeout: 10 * time.Second,
		// A keep-alive connection that carries nothing for this long is
		// closed: each one holds buffers and a goroutine, and a client
		// that makes a pool per request would otherwise leave its
		// connections open here for as long as it lives.
		IdleTimeout: 2 * time.Minute,
		ErrorLog:    log.New(httpErrorLog{a}, "", 0),
	}
	go a.http.Serve(ln)
	return nil
}

// httpErrorLog sends the HTTP server's own complaints (failed TLS
// handshakes: plain-HTTP clients, foreign or missing certificates) to the
// agent's log and metrics.
type httpErrorLog struct{ a *Agent }

func (h httpErrorLog) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	if strings.Contains(msg, "TLS handshake error") {
		h.a.m.authRejected.WithLabelValues("api-handshake").Inc()
		h.a.log.Warn("API connection refused at the TLS handshake", "detail", msg)
	} else {
		h.a.log.Debug("http server", "detail", msg)
	}
	return len(p), nil
}

// statusRecorder remembers the status code for metrics.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) { s.code = code; s.ResponseWriter.WriteHeader(code) }
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach Hijack (pod exec).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (a *Agent) instrument(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		if r.Method == http.MethodGet && !strings.HasPrefix(r.URL.Path, "/internal/") {
			a.awaitReadFloor(r.Context())
		}
		h.ServeHTTP(rec, r)
		code := strconv.Itoa(rec.code)
		a.m.requests.WithLabelValues(r.Method, code).Inc()
		a.m.requestLatency.WithLabelValues(r.Method).Observe(time.Since(start).Seconds())
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, err error) {
	st := api.AsStatus(err)
	if st.Reason == api.ReasonServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, st.Code, st)
}

// readBody reads a request body up to api.MaxBodyBytes.
func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, api.MaxBodyBytes))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, api.NewError(api.ReasonTooLarge, "request body is larger than %d bytes; split the object or store large data elsewhere", api.MaxBodyBytes)
	}
	if err != nil {
		return nil, api.NewError(api.ReasonBadRequest, "read request body: %v", err)
	}
	return b, nil
}

func setIndex(w http.ResponseWriter, idx uint64) {
	w.Header().Set(api.IndexHeader, strconv.FormatUint(idx, 10))
}

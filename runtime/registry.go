package runtime

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/containerd/remotes"
	"github.com/containerd/containerd/remotes/docker"
	"github.com/distribution/reference"
)

// RegistryConfig says where image pulls go: to a registry's mirrors before
// the registry itself, and over plain HTTP to registries without TLS. The
// zero value pulls from each registry the reference names, over HTTPS.
//
// Hosts and Resolver keep r's map and slices and read them on every pull,
// so r must not change once either has been called.
type RegistryConfig struct {
	// Mirrors maps a registry host, as references name it ("docker.io",
	// "ghcr.io", "127.0.0.1:5000"), to mirror endpoints: http:// or
	// https:// URLs ("https://mirror.example:5000", "http://127.0.0.1:5001")
	// tried in order before the registry itself. A URL path, if any, is the
	// prefix the mirror serves the registry API under ("/v2" is added).
	// A mirror is trusted to resolve tags to digests, so list only mirrors
	// you run or trust.
	Mirrors map[string][]string
	// Insecure lists registry hosts reached over plain HTTP instead of
	// HTTPS: "host" matches that host on any port, "host:port" only that
	// port. It applies to the registry itself; a mirror's scheme is the
	// one its URL gives.
	Insecure []string
}

// Timeouts of the registry HTTP client. There is no limit on a whole
// request, since a layer may be large: the caller's context bounds a pull.
const (
	registryDialTimeout   = 30 * time.Second
	registryTLSTimeout    = 10 * time.Second
	registryHeaderTimeout = time.Minute // from request sent to response headers
	registryIdleTimeout   = 90 * time.Second
)

// dockerHubHost is where references to docker.io go.
const dockerHubHost = "registry-1.docker.io"

var anchoredDomain = regexp.MustCompile(`^` + reference.DomainRegexp.String() + `$`)

// ParseRegistryMirror reads one mirror in the flag syntax HOST=URL, as in
// "docker.io=http://127.0.0.1:5000", and returns the registry host
// (lower-cased) and the mirror's URL. HOST is named as references name it;
// URL is an http:// or https:// URL.
func ParseRegistryMirror(s string) (host string, endpoint string, err error) {
	h, u, ok := strings.Cut(strings.TrimSpace(s), "=")
	if !ok {
		return "", "", fmt.Errorf("registry mirror %q: want HOST=URL, such as docker.io=https://mirror.example:5000", s)
	}
	h, u = strings.TrimSpace(h), strings.TrimSpace(u)
	if err := checkRegistryHost(h); err != nil {
		return "", "", fmt.Errorf("registry mirror %q: %w", s, err)
	}
	if _, err := parseMirrorURL(u); err != nil {
		return "", "", fmt.Errorf("registry mirror %q: %w", s, err)
	}
	return strings.ToLower(h), u, nil
}

// checkRegistryHost accepts a registry host as references name it: a
// host name or IP address ([::1] for IPv6), with an optional port.
func checkRegistryHost(h string) error {
	const how = "name it as image references do, such as docker.io or 127.0.0.1:5000"
	switch {
	case h == "":
		return fmt.Errorf("the registry host is empty; %s", how)
	case strings.Contains(h, "/"):
		return fmt.Errorf("%q is a URL or a path, not a registry host; %s", h, how)
	case !anchoredDomain.MatchString(h):
		return fmt.Errorf("%q is not a registry host; %s", h, how)
	}
	if _, port, err := net.SplitHostPort(h); err == nil {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%q: port %q is not a number from 1 to 65535", h, port)
		}
	}
	return nil
}

// parseMirrorURL parses a mirror endpoint and sets its path to the API
// root, ending in /v2.
func parseMirrorURL(s string) (*url.URL, error) {
	const how = "give an http:// or https:// URL, such as https://mirror.example:5000 or http://127.0.0.1:5001"
	if !strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://") {
		return nil, fmt.Errorf("mirror URL %q is not http:// or https://; %s", s, how)
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return nil, fmt.Errorf("mirror URL %q does not parse (%v); %s", s, err, how)
	case u.Host == "":
		return nil, fmt.Errorf("mirror URL %q names no host; %s", s, how)
	case u.User != nil:
		return nil, fmt.Errorf("mirror URL %q holds credentials, which are not supported; remove them", s)
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("mirror URL %q has a query or fragment; %s", s, how)
	}
	p := strings.TrimRight(u.Path, "/")
	if !strings.HasSuffix(p, "/v2") {
		p += "/v2"
	}
	u.Path, u.RawPath = p, ""
	return u, nil
}

// Validate checks every mirror host and URL and every insecure host, so a
// mistake shows at start rather than at the first pull.
func (r RegistryConfig) Validate() error {
	var errs []error
	for host, eps := range r.Mirrors {
		if len(eps) == 0 {
			if err := checkRegistryHost(host); err != nil {
				errs = append(errs, fmt.Errorf("registry mirrors of %q: %w", host, err))
			}
		}
		for _, ep := range eps {
			if _, _, err := ParseRegistryMirror(host + "=" + ep); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, h := range r.Insecure {
		if err := checkRegistryHost(h); err != nil {
			errs = append(errs, fmt.Errorf("insecure registry %q: %w", h, err))
		}
	}
	return errors.Join(errs...)
}

// mirrorsOf returns the mirror endpoints of registry host.
func (r RegistryConfig) mirrorsOf(host string) []string {
	if eps, ok := r.Mirrors[host]; ok {
		return eps
	}
	for h, eps := range r.Mirrors {
		if strings.EqualFold(h, host) {
			return eps
		}
	}
	return nil
}

// insecure reports whether registry host is reached over plain HTTP.
func (r RegistryConfig) insecure(host string) bool {
	name := hostOnly(host)
	for _, h := range r.Insecure {
		if strings.EqualFold(h, host) {
			return true
		}
		if _, _, err := net.SplitHostPort(h); err != nil && strings.EqualFold(strings.Trim(h, "[]"), name) {
			return true // no port: any port of that host
		}
	}
	return false
}

// hostOnly strips the port, and the brackets of an IPv6 address.
func hostOnly(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return strings.Trim(host, "[]")
}

// hostsFor lists where to pull from registry host: its mirrors in order,
// then the registry itself.
func (r RegistryConfig) hostsFor(host string, client *http.Client, auth docker.Authorizer) ([]docker.RegistryHost, error) {
	var out []docker.RegistryHost
	for _, ep := range r.mirrorsOf(host) {
		u, err := parseMirrorURL(ep)
		if err != nil {
			return nil, fmt.Errorf("registry mirror of %s: %w", host, err)
		}
		out = append(out, docker.RegistryHost{
			Client:       client,
			Authorizer:   auth,
			Host:         u.Host,
			Scheme:       u.Scheme,
			Path:         u.Path,
			Capabilities: docker.HostCapabilityPull | docker.HostCapabilityResolve,
		})
	}
	upstream := host
	if host == "docker.io" {
		upstream = dockerHubHost
	}
	scheme := "https"
	if r.insecure(host) {
		scheme = "http"
	}
	out = append(out, docker.RegistryHost{
		Client:       client,
		Authorizer:   auth,
		Host:         upstream,
		Scheme:       scheme,
		Path:         "/v2",
		Capabilities: docker.HostCapabilityPull | docker.HostCapabilityResolve | docker.HostCapabilityPush,
	})
	return out, nil
}

// Hosts returns containerd's registry hosts function for r. For a
// registry host as references name it, it gives the host's mirrors, in
// order, able to pull and resolve; then the registry itself (docker.io is
// served by registry-1.docker.io), able to pull, resolve and push, over
// http if Insecure names it and https otherwise. All share one HTTP client
// with connection timeouts and one token authorizer, which fetches the
// anonymous tokens public registries hand out. Safe for concurrent use.
func (r RegistryConfig) Hosts() docker.RegistryHosts {
	client := newRegistryClient()
	auth := docker.NewDockerAuthorizer(docker.WithAuthClient(client))
	return func(host string) ([]docker.RegistryHost, error) {
		return r.hostsFor(host, client, auth)
	}
}

// Resolver returns a containerd resolver that pulls as Hosts says.
func (r RegistryConfig) Resolver() remotes.Resolver {
	return docker.NewResolver(docker.ResolverOptions{Hosts: r.Hosts()})
}

// endpoints lists the API roots a pull from registry host tries, in order,
// for error messages.
func (r RegistryConfig) endpoints(host string) []string {
	hosts, err := r.hostsFor(host, nil, nil)
	if err != nil {
		return []string{err.Error()}
	}
	out := make([]string, len(hosts))
	for i, h := range hosts {
		out[i] = h.Scheme + "://" + h.Host + h.Path
	}
	return out
}

func newRegistryClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   registryDialTimeout,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		TLSHandshakeTimeout:   registryTLSTimeout,
		ResponseHeaderTimeout: registryHeaderTimeout,
		ExpectContinueTimeout: 5 * time.Second,
		IdleConnTimeout:       registryIdleTimeout,
		MaxIdleConnsPerHost:   4,
		ForceAttemptHTTP2:     true,
	}}
}

// refHost is the registry host of a normalized reference ("docker.io" for
// "docker.io/library/busybox:1").
func refHost(name string) string {
	n, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return ""
	}
	return reference.Domain(n)
}

// pullHint says what to do about a pull error that has a known fix.
func pullHint(err error) string {
	if strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
		return " (that registry speaks plain HTTP: if that is intended, list its host as an insecure registry, agent flag --insecure-registry)"
	}
	return ""
}

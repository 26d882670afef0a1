package node

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/pki"
	"sigs.k8s.io/yaml"
)

// ClientConfig is a credential file, like a kubeconfig: where the cluster's
// API is, the CA that vouches for its nodes, and a client certificate.
type ClientConfig struct {
	Name   string `json:"name"`
	Server string `json:"server"`
	CA     string `json:"ca"`
	Cert   string `json:"cert"`
	Key    string `json:"key"`
}

// DefaultClientConfigPath is where the CLI looks for a credential when
// neither --config nor SHOAL_CONFIG names one.
func DefaultClientConfigPath() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".shoal", "config")
}

// LoadClientConfig reads a credential file.
func LoadClientConfig(path string) (*ClientConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c ClientConfig
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		return nil, fmt.Errorf("credential file %s: %w", path, err)
	}
	if c.Server == "" || c.CA == "" || c.Cert == "" || c.Key == "" {
		return nil, fmt.Errorf("credential file %s lacks server, ca, cert or key", path)
	}
	return &c, nil
}

// Save writes the credential file with mode 0600.
func (c *ClientConfig) Save(path string) error {
	b, err := yaml.Marshal(c)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return pki.WriteFile0600(path, b)
}

// HTTPClient returns an HTTP client that presents the credential and
// trusts only the cluster's CA.
func (c *ClientConfig) HTTPClient() (*http.Client, error) {
	ca, err := pki.LoadCA([]byte(c.CA), nil)
	if err != nil {
		return nil, fmt.Errorf("credential %s: %w", c.Name, err)
	}
	kp, err := pki.NewKeypair([]byte(c.Cert), []byte(c.Key), nil)
	if err != nil {
		return nil, fmt.Errorf("credential %s: %w", c.Name, err)
	}
	return &http.Client{
		Timeout:   60 * time.Second,
		Transport: &http.Transport{TLSClientConfig: pki.ClientTLS(ca, kp), MaxIdleConnsPerHost: 64, ForceAttemptHTTP2: true},
	}, nil
}

// Client returns an API client for the credential's server, or for server
// when it is not empty.
func (c *ClientConfig) Client(server string) (*api.Client, error) {
	hc, err := c.HTTPClient()
	if err != nil {
		return nil, err
	}
	if server == "" {
		server = c.Server
	}
	if !strings.HasPrefix(server, "https://") {
		if strings.HasPrefix(server, "http://") {
			return nil, errors.New("the server " + server + " is plain HTTP but a credential was given: use https:// (only --insecure-dev agents speak plain HTTP)")
		}
		server = "https://" + server
	}
	cl := api.NewClient(server)
	cl.HTTP = hc
	return cl, nil
}

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
	clientcmdv1 "k8s.io/client-go/tools/clientcmd/api/v1"
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

// Kubeconfig returns the credential as a kubeconfig for kubectl, client-go
// and Helm: one cluster (server, or the credential's own server when it is
// empty, and the CA), one user (the client certificate), one context,
// current. Each is named after the credential.
func (c *ClientConfig) Kubeconfig(server string) ([]byte, error) {
	if server == "" {
		server = c.Server
	}
	name := c.Name
	if name == "" {
		name = "shoal"
	}
	kc := clientcmdv1.Config{
		Kind: "Config", APIVersion: "v1",
		Clusters: []clientcmdv1.NamedCluster{{Name: name, Cluster: clientcmdv1.Cluster{
			Server: server, CertificateAuthorityData: []byte(c.CA),
		}}},
		AuthInfos: []clientcmdv1.NamedAuthInfo{{Name: name, AuthInfo: clientcmdv1.AuthInfo{
			ClientCertificateData: []byte(c.Cert), ClientKeyData: []byte(c.Key),
		}}},
		Contexts:       []clientcmdv1.NamedContext{{Name: name, Context: clientcmdv1.Context{Cluster: name, AuthInfo: name, Namespace: "default"}}},
		CurrentContext: name,
	}
	return yaml.Marshal(kc)
}

package main

import (
	"fmt"

	"github.com/spf13/cobra"
	clientcmdv1 "k8s.io/client-go/tools/clientcmd/api/v1"
	"sigs.k8s.io/yaml"
)

func newKubeconfigCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "kubeconfig",
		Short: "Print a kubeconfig for kubectl, client-go and Helm, from the current credential",
		Long: `Print a kubeconfig with the current credential (its client certificate),
the cluster's CA and the credential's server (or --server: any node will
do, since every node serves the API). Kubernetes clients read it as they
read any kubeconfig. Against --insecure-dev agents, which take no
credential, it names the server alone.`,
		Example: `  shoal kubeconfig > ~/.kube/shoal
  KUBECONFIG=~/.kube/shoal kubectl api-resources`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cc, server, err := cf.credential()
			if err != nil {
				return err
			}
			var out []byte
			if cc == nil {
				out, err = insecureKubeconfig(server)
			} else {
				out, err = cc.Kubeconfig(server)
			}
			if err != nil {
				return fmt.Errorf("kubeconfig: %w", err)
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
}

// insecureKubeconfig names a plain-HTTP server and no user.
func insecureKubeconfig(server string) ([]byte, error) {
	const name = "shoal"
	return yaml.Marshal(clientcmdv1.Config{
		Kind: "Config", APIVersion: "v1",
		Clusters:       []clientcmdv1.NamedCluster{{Name: name, Cluster: clientcmdv1.Cluster{Server: server}}},
		AuthInfos:      []clientcmdv1.NamedAuthInfo{{Name: name}},
		Contexts:       []clientcmdv1.NamedContext{{Name: name, Context: clientcmdv1.Context{Cluster: name, AuthInfo: name, Namespace: "default"}}},
		CurrentContext: name,
	})
}

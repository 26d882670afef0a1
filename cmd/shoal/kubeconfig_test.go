package main

import (
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

// Against --insecure-dev agents the kubeconfig names the server alone, and
// client-go takes it.
func TestInsecureKubeconfig(t *testing.T) {
	out, err := insecureKubeconfig("http://127.0.0.1:7948")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := clientcmd.RESTConfigFromKubeConfig(out)
	if err != nil {
		t.Fatalf("client-go does not take it: %v\n%s", err, out)
	}
	if rc.Host != "http://127.0.0.1:7948" || len(rc.CertData) != 0 {
		t.Fatalf("rest config %+v", rc)
	}
}

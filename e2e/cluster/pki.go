package cluster

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/binder-projects/binder-projects/certs"
)

// pki is the cluster's certificate authority and where its files are.
type pki struct {
	dir string
	ca  *certs.CA
}

const (
	apiServerURL = "https://127.0.0.1:6443"
	// ServiceClusterIPRange is the cluster's service range; its first address is the kubernetes Service.
	serviceClusterIPRange = "10.96.0.0/12"
	kubernetesServiceIP   = "10.96.0.1"
)

// makePKI writes the CA, every component's certificate, the service-account key pair and the kubeconfigs.
func makePKI(l layout, nodeName string, nodeIP net.IP) (*pki, error) {
	dir := l.pki()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ca, err := certs.NewCA("binder-projects-e2e-ca")
	if err != nil {
		return nil, err
	}
	p := &pki{dir: dir, ca: ca}
	if err := os.WriteFile(p.file("ca.crt"), ca.CertPEM(), 0o644); err != nil {
		return nil, err
	}
	loopback := net.ParseIP("127.0.0.1")
	issue := []struct {
		name string
		req  certs.Request
	}{
		{"apiserver", certs.Request{CommonName: "kube-apiserver", Server: true,
			DNSNames: []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "localhost"},
			IPs:      []net.IP{loopback, net.ParseIP(kubernetesServiceIP), nodeIP}}},
		{"apiserver-kubelet-client", certs.Request{CommonName: "kube-apiserver-kubelet-client", Organizations: []string{"system:masters"}, Client: true}},
		{"admin", certs.Request{CommonName: "kubernetes-admin", Organizations: []string{"system:masters"}, Client: true}},
		{"controller-manager", certs.Request{CommonName: "system:kube-controller-manager", Client: true}},
		{"scheduler", certs.Request{CommonName: "system:kube-scheduler", Client: true}},
		{"kubelet-client", certs.Request{CommonName: "system:node:" + nodeName, Organizations: []string{"system:nodes"}, Client: true}},
		{"kubelet-server", certs.Request{CommonName: nodeName, Server: true, DNSNames: []string{nodeName, "localhost"}, IPs: []net.IP{loopback, nodeIP}}},
	}
	for _, c := range issue {
		crt, key, err := ca.Issue(c.req)
		if err != nil {
			return nil, fmt.Errorf("issuing %s: %w", c.name, err)
		}
		if err := os.WriteFile(p.file(c.name+".crt"), crt, 0o644); err != nil {
			return nil, err
		}
		if err := os.WriteFile(p.file(c.name+".key"), key, 0o600); err != nil {
			return nil, err
		}
	}
	// The service-account token signing key pair.
	sa, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(p.file("sa.key"), pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(sa)}), 0o600); err != nil {
		return nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&sa.PublicKey)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(p.file("sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644); err != nil {
		return nil, err
	}
	for name, user := range map[string]string{
		l.adminKubeconfig():                     "admin",
		l.path("controller-manager.kubeconfig"): "controller-manager",
		l.path("scheduler.kubeconfig"):          "scheduler",
		l.path("kubelet.kubeconfig"):            "kubelet-client",
	} {
		if err := p.writeKubeconfig(name, user); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (p *pki) file(name string) string { return filepath.Join(p.dir, name) }

// writeKubeconfig writes a self-contained kubeconfig (certificates embedded) for a client certificate.
func (p *pki) writeKubeconfig(path, user string) error {
	crt, err := os.ReadFile(p.file(user + ".crt"))
	if err != nil {
		return err
	}
	key, err := os.ReadFile(p.file(user + ".key"))
	if err != nil {
		return err
	}
	b64 := base64.StdEncoding.EncodeToString
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: binder-projects-e2e
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: %s
  user:
    client-certificate-data: %s
    client-key-data: %s
contexts:
- name: binder-projects-e2e
  context: {cluster: binder-projects-e2e, user: %s}
current-context: binder-projects-e2e
`, apiServerURL, b64(p.ca.CertPEM()), user, b64(crt), b64(key), user)
	return os.WriteFile(path, []byte(cfg), 0o600)
}

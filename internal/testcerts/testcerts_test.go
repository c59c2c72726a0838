package testcerts

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"
	"time"
)

// TestIssue: a certificate issued by a CA verifies against it for its
// names and addresses, and not against another CA or for another name.
func TestIssue(t *testing.T) {
	now := time.Now()
	ca, err := NewCA("test CA", now)
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewCA("other CA", now)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Issue(Leaf{DNS: []string{"relay.ns.svc"}, IPs: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	pool := func(c *CA) *x509.CertPool {
		p := x509.NewCertPool()
		p.AddCert(c.Cert)
		return p
	}
	tests := []struct {
		name string
		ca   *CA
		host string
		ok   bool
	}{
		{"its name", ca, "relay.ns.svc", true},
		{"its address", ca, "127.0.0.1", true},
		{"another name", ca, "other.ns.svc", false},
		{"another CA", other, "relay.ns.svc", false},
	}
	for _, tc := range tests {
		_, err := leaf.Verify(x509.VerifyOptions{Roots: pool(tc.ca), DNSName: tc.host})
		if (err == nil) != tc.ok {
			t.Errorf("%s: verify %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
	if _, _, err := ca.Issue(Leaf{}); err == nil {
		t.Error("a certificate without a name was issued")
	}
}

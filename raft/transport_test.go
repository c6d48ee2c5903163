package raft

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"
)

// testCA makes a CA and issues node certificates for 127.0.0.1, valid as
// both server and client, as an operator's PKI would for its nodes.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mcfed test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

func (ca *testCA) nodeTLS(t *testing.T, name string, trust *x509.CertPool) *tls.Config {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		KeyUsage:    x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		RootCAs:      trust, ClientCAs: trust, ClientAuth: tls.RequireAndVerifyClientCert,
		MinVersion: tls.VersionTLS13,
	}
}

func TestMutualTLSReplicatesAndShutsOutStrangers(t *testing.T) {
	ca := newTestCA(t)
	c := startCluster(t, 2, func(cfg *Config) { cfg.TLS = ca.nodeTLS(t, cfg.ID, ca.pool) })
	leader := c.waitLeader()
	if _, err := leader.Apply(context.Background(), scope("over-tls")); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.nodes {
		waitFor(t, n.ID()+" to apply over TLS", func() bool { return n.Registry().Scope("over-tls") != nil })
	}

	// A node whose certificate another CA signed is added to the
	// configuration, but the members refuse its connections: it never
	// receives the log, and the cluster (still a quorum) keeps committing.
	other := newTestCA(t)
	cfg := testConfig(t, "stranger", t.TempDir())
	cfg.TLS = other.nodeTLS(t, "stranger", other.pool)
	stranger, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	// Adding a third voter that cannot be reached makes the quorum 2 of 3,
	// which the two real members still form.
	if err := leader.AddVoter("stranger", stranger.Addr()); err != nil {
		t.Fatal(err)
	}
	if _, err := leader.Apply(context.Background(), scope("after-stranger")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if stranger.Registry().Scope("over-tls") != nil || stranger.Registry().Scope("after-stranger") != nil {
		t.Fatal("a node with a certificate from another CA received the log")
	}
}

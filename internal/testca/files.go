package testca

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
)

// NodeFiles issues a certificate for name at 127.0.0.1, as NodeTLS does,
// and writes it, its key and the CA's certificate as PEM files in dir, for
// a node started as a process (--tls-cert, --tls-key, --tls-ca).
func (ca *CA) NodeFiles(t testing.TB, dir, name string) (cert, key, caFile string) {
	t.Helper()
	c := ca.NodeTLS(t, name, ca.Pool).Certificates[0]
	der, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, key, caFile = filepath.Join(dir, name+"-cert.pem"), filepath.Join(dir, name+"-key.pem"), filepath.Join(dir, "ca.pem")
	for path, block := range map[string]*pem.Block{
		cert:   {Type: "CERTIFICATE", Bytes: c.Certificate[0]},
		key:    {Type: "PRIVATE KEY", Bytes: der},
		caFile: {Type: "CERTIFICATE", Bytes: ca.cert.Raw},
	} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return cert, key, caFile
}

package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"
)

// TLSFiles name the PEM files a client of an admin API over TLS uses: the
// CA bundle that signs the node's certificate ("": the system's roots),
// and a client certificate and key for mutual TLS (both or neither).
type TLSFiles struct {
	CA, Cert, Key string
}

// HTTPClient is an HTTP client for an admin API with files' TLS settings;
// a request that gets no answer in timeout fails (0: no limit, for
// imports that stream for minutes).
func HTTPClient(files TLSFiles, timeout time.Duration) (*http.Client, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if files.CA != "" {
		pem, err := os.ReadFile(files.CA)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", files.CA)
		}
		cfg.RootCAs = pool
	}
	switch {
	case files.Cert != "" && files.Key != "":
		pair, err := tls.LoadX509KeyPair(files.Cert, files.Key)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	case files.Cert != "" || files.Key != "":
		return nil, errors.New("a client certificate needs both its certificate and its key")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg
	return &http.Client{Transport: tr, Timeout: timeout}, nil
}

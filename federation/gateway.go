package federation

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/idgw"
	"github.com/mcfed/mcfed/internal/jose"
	"github.com/mcfed/mcfed/operator/datagateway"
	"github.com/mcfed/mcfed/operator/smpp"
	"github.com/mcfed/mcfed/operator/sms"
)

// Node-local key files. Private keys live here, in the node's data
// directory, and never in the registry.
const (
	sealingKeyFile = "sealing-key.pem" // opens subscriber_id / ENCR_MSISDN
	signingKeyFile = "signing-keys.json"
)

// maxTokenLifetime bounds how long an ID token signed by a key stays
// verifiable, so a rotated-out key stays published that long.
const maxTokenLifetime = 24 * time.Hour

// mountGateway mounts the Identity Gateway of the operator this node serves
// on the public app, with the node's signing keys (made on first start) and
// its sealing key for login hints.
func (n *Node) mountGateway(app *fiber.App) error {
	ring := n.keys
	regs, err := n.authenticators(app)
	if err != nil {
		return err
	}
	regs = observeAuthenticators(regs, n.metrics)
	router, err := idgw.NewRouter(regs...)
	if err != nil {
		return err
	}
	g, err := idgw.New(idgw.Config{
		OperatorID: n.cfg.OperatorID, Issuer: n.PublicURL(), Registry: operatorView{liveRegistry{n.cluster.node}, n.cfg.OperatorID},
		Keys: ring, LoginHints: n.sealing, Subscribers: subscriberView{n.subs}, Router: router,
		// PCR login hints resolve through an index kept in the same store.
		PCRIndex: subscriberView{n.subs}, Log: n.log,
		// The node's metrics count each OAuth answer by endpoint and code.
		Observer: n.metrics,
		// userinfo and premiuminfo read the operator's own store.
		Claims: datagateway.New(datagateway.NewStoreSource(n.subs)),
	})
	if err != nil {
		return err
	}
	go g.SweepLoop(n.ctx)
	return g.Mount(app)
}

// authenticators builds the operator's authenticators in its order of
// preference and mounts their pages. This is the one place that knows the
// authenticator types; the gateway sees only idgw.Authenticator. SMS (code
// or link, whichever the person uses) needs the operator's SMSC.
func (n *Node) authenticators(app *fiber.App) ([]idgw.Registration, error) {
	var regs []idgw.Registration
	if n.cfg.SMSC != nil {
		client, err := smpp.New(*n.cfg.SMSC) // connects, and reconnects, in the background
		if err != nil {
			return nil, fmt.Errorf("SMSC: %w", err)
		}
		n.smsc = client
		a, err := sms.New(sms.Config{Mode: sms.Mode(n.cfg.SMSMode), PublicURL: n.PublicURL(), OperatorName: n.cfg.OperatorID}, client)
		if err != nil {
			return nil, fmt.Errorf("SMS authenticator: %w", err)
		}
		a.Mount(app)
		regs = append(regs, idgw.Registration{Info: a.Info(), Impl: a})
	}
	return regs, nil
}

// loadOrCreateRing loads the signing keys, giving RS256 (the SDKs'
// default), PS256 and ES256 (which SPs may register) a key on first start.
func loadOrCreateRing(path string) (*jose.KeyRing, error) {
	ring, err := jose.LoadRing(path)
	if errors.Is(err, os.ErrNotExist) {
		ring, err = jose.NewKeyRing(maxTokenLifetime), nil
	}
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	changed, err := ring.Ensure(time.Now(), jose.RS256, jose.PS256, jose.ES256)
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	if changed {
		if err := ring.SaveFile(path); err != nil {
			return nil, fmt.Errorf("signing keys: %w", err)
		}
	}
	return ring, nil
}

// sealingKey returns the node's subscriber_id key and the PEM of its public
// half (what the operator registers), making the key on first use.
func sealingKey(dir string) (*rsa.PrivateKey, string, error) {
	path := filepath.Join(dir, sealingKeyFile)
	var key *rsa.PrivateKey
	if b, err := os.ReadFile(path); err == nil {
		blk, _ := pem.Decode(b)
		if blk == nil {
			return nil, "", fmt.Errorf("%s is not PEM", path)
		}
		if key, err = x509.ParsePKCS1PrivateKey(blk.Bytes); err != nil {
			return nil, "", fmt.Errorf("%s: %w", path, err)
		}
	} else if errors.Is(err, os.ErrNotExist) {
		if key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			return nil, "", err
		}
		data := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, "", err
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return nil, "", err
		}
	} else {
		return nil, "", err
	}
	pub, err := publicPEM(key)
	return key, pub, err
}

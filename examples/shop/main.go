// Command mcfed-shop is the back end of an SP's web site, as an SP's
// developer writes it in Go with a certified OpenID Connect relying party
// (coreos/go-oidc and golang.org/x/oauth2): README "Run a federation" ends
// with a login through it. It is an example, not part of a node.
//
//	GET /login?msisdn=+447400123456  asks discovery which operator serves
//	                                 the number, and sends the browser to
//	                                 that operator's /authorize (state,
//	                                 nonce, PKCE S256, the sealed number
//	                                 as ENCR_MSISDN login hint)
//	GET /callback                    exchanges the code with the
//	                                 operator's credentials, verifies the
//	                                 ID token, says who logged in and how
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9000", "host:port of the shop's site; its callback, http://<listen>/callback, must be a registered redirect URI")
	discovery := flag.String("discovery", "", "a federation node's discovery endpoint, e.g. http://127.0.0.1:8081/v2/discovery")
	clientID := flag.String("client-id", "shop", "the SP's client_id")
	secretFile := flag.String("secret-file", "", "file holding the SP's client_secret, as the federation's admin registered it")
	scopes := flag.String("scopes", "openid mc_authn", "the scopes asked for, space-separated")
	flag.Parse()
	if *discovery == "" || *secretFile == "" {
		log.Fatal("mcfed-shop: --discovery and --secret-file are required")
	}
	secret, err := os.ReadFile(*secretFile)
	if err != nil {
		log.Fatalf("mcfed-shop: %v", err)
	}
	s := &shop{discovery: *discovery, clientID: *clientID, secret: strings.TrimSpace(string(secret)),
		redirect: "http://" + *listen + "/callback", scopes: strings.Fields(*scopes),
		providers: map[string]*oidc.Provider{}, pending: map[string]login{},
		client: &http.Client{Timeout: 10 * time.Second}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "mcfed-shop: GET /login?msisdn=...") })
	mux.HandleFunc("GET /login", s.login)
	mux.HandleFunc("GET /callback", s.callback)
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("mcfed-shop: %v", err)
	}
}

// login is what the shop keeps of a login it started, by its state: the
// serving operator's provider and the credentials discovery gave for it.
type login struct {
	operator        string
	provider        *oidc.Provider
	conf            oauth2.Config
	nonce, verifier string
}

type shop struct {
	discovery, clientID, secret, redirect string
	scopes                                []string
	client                                *http.Client

	mu        sync.Mutex
	providers map[string]*oidc.Provider // by issuer: metadata and keys
	pending   map[string]login
}

// discovered is the part of a discovery answer the shop uses.
type discovered struct {
	SubscriberID string `json:"subscriber_id"`
	Response     struct {
		ServingOperator string `json:"serving_operator"`
		ClientID        string `json:"client_id"`
		ClientSecret    string `json:"client_secret"`
		APIs            struct {
			OperatorID struct {
				Link []struct{ Rel, Href string } `json:"link"`
			} `json:"operatorid"`
		} `json:"apis"`
	} `json:"response"`
}

// discover asks the federation who serves msisdn, as the GSMA SDKs do:
// POST, the SP's credentials, the number without "+".
func (s *shop) discover(ctx context.Context, msisdn string) (discovered, string, error) {
	var d discovered
	form := url.Values{"MSISDN": {strings.TrimPrefix(msisdn, "+")}, "Redirect_URL": {s.redirect}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.discovery, strings.NewReader(form.Encode()))
	if err != nil {
		return d, "", err
	}
	req.SetBasicAuth(s.clientID, s.secret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return d, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return d, "", fmt.Errorf("discovery answered %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		return d, "", err
	}
	for _, l := range d.Response.APIs.OperatorID.Link {
		if l.Rel == "issuer" {
			return d, l.Href, nil
		}
	}
	return d, "", errors.New("discovery named no issuer")
}

// provider fetches an issuer's metadata once: go-oidc checks that it names
// the issuer it was fetched from.
func (s *shop) provider(ctx context.Context, issuer string) (*oidc.Provider, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.providers[issuer]; ok {
		return p, nil
	}
	p, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		return nil, err
	}
	s.providers[issuer] = p
	return p, nil
}

func (s *shop) login(w http.ResponseWriter, r *http.Request) {
	d, issuer, err := s.discover(r.Context(), r.URL.Query().Get("msisdn"))
	if err != nil {
		http.Error(w, "discovery: "+err.Error(), http.StatusBadGateway)
		return
	}
	p, err := s.provider(r.Context(), issuer)
	if err != nil {
		http.Error(w, "the operator's metadata: "+err.Error(), http.StatusBadGateway)
		return
	}
	l := login{operator: d.Response.ServingOperator, provider: p, nonce: random(), verifier: oauth2.GenerateVerifier(),
		conf: oauth2.Config{ClientID: d.Response.ClientID, ClientSecret: d.Response.ClientSecret,
			Endpoint: p.Endpoint(), RedirectURL: s.redirect, Scopes: s.scopes}}
	state := random()
	s.mu.Lock()
	s.pending[state] = l
	s.mu.Unlock()
	http.Redirect(w, r, l.conf.AuthCodeURL(state, oidc.Nonce(l.nonce), oauth2.S256ChallengeOption(l.verifier),
		oauth2.SetAuthURLParam("login_hint", "ENCR_MSISDN:"+d.SubscriberID), oauth2.SetAuthURLParam("acr_values", "2"),
		oauth2.SetAuthURLParam("version", "mc_di_r2_v2.3")), http.StatusFound)
}

func (s *shop) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	l, ok := s.pending[q.Get("state")]
	delete(s.pending, q.Get("state"))
	s.mu.Unlock()
	switch {
	case !ok:
		http.Error(w, "unknown state: start again at /login", http.StatusBadRequest)
		return
	case q.Get("error") != "":
		http.Error(w, "the operator refused: "+q.Get("error")+": "+q.Get("error_description"), http.StatusForbidden)
		return
	}
	tok, err := l.conf.Exchange(r.Context(), q.Get("code"), oauth2.VerifierOption(l.verifier))
	if err != nil {
		http.Error(w, "code exchange: "+err.Error(), http.StatusBadGateway)
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := l.provider.Verifier(&oidc.Config{ClientID: l.conf.ClientID}).Verify(r.Context(), raw)
	if err != nil {
		http.Error(w, "the ID token does not verify: "+err.Error(), http.StatusBadGateway)
		return
	}
	var claims struct {
		Nonce string   `json:"nonce"`
		ACR   string   `json:"acr"`
		AMR   []string `json:"amr"`
	}
	if err := idt.Claims(&claims); err != nil || claims.Nonce != l.nonce {
		http.Error(w, "the ID token is not this login's (nonce)", http.StatusBadGateway)
		return
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		http.Error(w, "at_hash: "+err.Error(), http.StatusBadGateway)
		return
	}
	// sub is the subscriber's pseudonym at this SP: never the number.
	fmt.Fprintf(w, "logged in at %s (%s): ID token verified, acr %s, amr %s, a pseudonymous sub of %d characters\n",
		l.operator, idt.Issuer, claims.ACR, strings.Join(claims.AMR, " "), len(idt.Subject))
}

func random() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

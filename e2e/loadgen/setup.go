package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/mcfed/mcfed/client"
)

// loadgenSP is the SP setup registers and discovery authenticates as.
const (
	loadgenSP       = "loadgen-sp"
	loadgenRedirect = "https://loadgen.example/callback"
)

func setup(args []string) error {
	fs := flag.NewFlagSet("setup", flag.ContinueOnError)
	admin := fs.String("admin", "http://127.0.0.1:7001", "admin URL of any node")
	token := fs.String("token", "", "admin token")
	ranges := fs.Int("ranges", 1000000, "number ranges (at most 4M)")
	ported := fs.Int("ported", 10000000, "ported numbers")
	seed := fs.Uint64("seed", 1, "seed of the numbering plan (discovery must use the same)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c := &client.Admin{Base: *admin, Token: *token}
	ctx := context.Background()
	p := newPlan(*seed, *ranges, *ported)

	if err := c.Do(ctx, "PUT", "/v1/scopes/openid", map[string]string{"name": "openid"}, nil); err != nil {
		return fmt.Errorf("scope: %w", err)
	}
	for i, id := range p.operators {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return err
		}
		der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
		o := map[string]any{"id": id, "name": "Loadgen Operator " + strconv.Itoa(i), "country": "IN", "currency": "INR",
			"networks": []string{fmt.Sprintf("404_%02d", 80+i)}, "issuer": "https://" + id + ".example",
			"sealing_key": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), "status": "active"}
		if err := c.Do(ctx, "PUT", "/v1/operators/"+id, o, nil); err != nil {
			return fmt.Errorf("operator %s: %w", id, err)
		}
	}
	var sp struct {
		ClientSecret string `json:"client_secret"`
	}
	if err := c.Do(ctx, "PUT", "/v1/service-providers/"+loadgenSP, map[string]any{
		"name": "Loadgen SP", "redirect_uris": []string{loadgenRedirect}, "scopes": []string{"openid"},
	}, &sp); err != nil {
		return fmt.Errorf("SP: %w", err)
	}

	prefixes := p.prefixes()
	t0 := time.Now()
	if err := c.Do(ctx, "POST", "/v1/ranges/import", csvStream(func(w io.Writer) {
		for i, pr := range prefixes {
			fmt.Fprintf(w, "%s,%s\n", prefixString(pr), p.operators[i%len(p.operators)])
		}
	}), nil); err != nil {
		return fmt.Errorf("ranges: %w", err)
	}
	fmt.Printf("imported %d ranges in %s\n", len(prefixes), time.Since(t0).Round(time.Millisecond))
	t0 = time.Now()
	var res struct{ Rows, Changed int }
	if err := c.Do(ctx, "POST", "/v1/ported/import", csvStream(func(w io.Writer) {
		p.portedNumbers(prefixes, func(n uint64, op string) { fmt.Fprintf(w, "+%d,%s\n", n, op) })
	}), &res); err != nil {
		return fmt.Errorf("ported numbers: %w", err)
	}
	d := time.Since(t0)
	fmt.Printf("imported %d ported numbers (%d changed) in %s: %.0f rows/s\n", res.Rows, res.Changed, d.Round(time.Millisecond), float64(res.Rows)/d.Seconds())
	fmt.Printf("SP %s secret: %s\n", loadgenSP, sp.ClientSecret)
	return nil
}

// csvStream streams what write produces as a request body, so a file of
// millions of rows is never held whole.
func csvStream(write func(w io.Writer)) io.Reader {
	r, w := io.Pipe()
	go func() {
		bw := bufio.NewWriterSize(w, 1<<20)
		write(bw)
		w.CloseWithError(bw.Flush())
	}()
	return r
}

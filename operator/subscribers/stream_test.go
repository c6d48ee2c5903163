package subscribers

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
)

// TestImportStreamed drives the import through a real listener with a
// streaming app, as the node's admin listener is configured.
func TestImportStreamed(t *testing.T) {
	s, _ := openStore(t)
	app := fiber.New(fiber.Config{DisableStartupMessage: true, StreamRequestBody: true, BodyLimit: 64 << 10})
	s.Mount(app)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go app.Listener(ln)
	t.Cleanup(func() { app.Shutdown() })

	// Larger than BodyLimit: streaming is what lets it through.
	resp, err := http.Post("http://"+ln.Addr().String()+"/subscribers/import", "application/x-ndjson", strings.NewReader(ndjsonFile(2000)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res BulkResult
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || resp.StatusCode != 200 || res.Created != 2000 {
		t.Fatalf("%d %+v %v", resp.StatusCode, res, err)
	}
}

// TestImportRefusedMidStreamIsAnswered sends an import without a length
// (chunked, as `curl -T -` does) that goes on past the import limit: the
// node must answer its refusal (413) while the client still sends, not
// wait for the rest of a body it will never read.
func TestImportRefusedMidStreamIsAnswered(t *testing.T) {
	s, _ := openStore(t)
	app := fiber.New(fiber.Config{DisableStartupMessage: true, StreamRequestBody: true, BodyLimit: 64 << 10})
	(&API{Store: s, MaxImportBytes: 256 << 10}).Mount(app)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go app.Listener(ln)
	t.Cleanup(func() { app.Shutdown() })

	pr, pw := io.Pipe()
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		// Far more than the limit and than any socket buffer holds; the
		// writes stop when the request ends.
		rows := ndjsonFile(2000)
		for range 1000 {
			if _, err := io.WriteString(pw, rows); err != nil {
				return
			}
		}
		pw.Close()
	}()
	// The deadline bounds a hang; an answered refusal arrives long before.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+ln.Addr().String()+"/subscribers/import", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := http.DefaultClient.Do(req)
	pr.CloseWithError(errors.New("the test is done"))
	<-sent
	if err != nil {
		t.Fatalf("the refusal of a streamed import was not answered: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if n := countAll(t, s); n != 0 {
		t.Fatalf("%d subscribers written by a refused import", n)
	}
}

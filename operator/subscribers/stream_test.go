package subscribers

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"

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

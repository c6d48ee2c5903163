package smpp

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/linxGnu/gosmpp/pdu"
)

// hostileSMSC accepts binds and, once bound, sends bad: a PDU that
// gosmpp's parser panics on.
func hostileSMSC(t *testing.T, bad []byte) (addr string, binds func() int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	n := 0
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer nc.Close()
				_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
				bind, err := pdu.Parse(nc)
				if err != nil {
					return
				}
				buf := pdu.NewBuffer(nil)
				bind.GetResponse().Marshal(buf)
				if _, err := nc.Write(buf.Bytes()); err != nil {
					return
				}
				mu.Lock()
				n++
				mu.Unlock()
				_, _ = nc.Write(bad)
				_, _ = nc.Read(make([]byte, 1)) // until the client hangs up
			}()
		}
	}()
	return ln.Addr().String(), func() int { mu.Lock(); defer mu.Unlock(); return n }
}

// TestMalformedPDUFromSMSCReconnects: a query_sm with an optional
// parameter (which gosmpp's parser panics on, in its reading goroutine)
// closes the session and the client binds again; the process lives on.
func TestMalformedPDUFromSMSCReconnects(t *testing.T) {
	bad := []byte("\x00\x00\x00\x1b\x00\x00\x00\x0300000000000\x0000\x0000\x00\x00")
	addr, binds := hostileSMSC(t, bad)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, Config{Addr: addr, SystemID: "test", DialTimeout: time.Second,
		ReconnectMin: 20 * time.Millisecond, ReconnectMax: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	end := time.Now().Add(5 * time.Second)
	for binds() < 2 {
		if time.Now().After(end) {
			t.Fatalf("no second bind after the malformed PDU (binds %d, state %+v)", binds(), c.State())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

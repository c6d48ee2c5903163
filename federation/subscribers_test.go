package federation

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mcfed/mcfed/client"
	"github.com/mcfed/mcfed/operator/subscribers"
)

// writeOldSubscribersFile makes a subscribers.db as a node kept it before
// the subscribers moved into the state store (the API's JSON under the
// big-endian number, the PCR secret under the number) holding sub, whose
// secret it returns.
func writeOldSubscribersFile(t *testing.T, dir string, sub subscribers.Subscriber) []byte {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(filepath.Join(dir, subscribersFile), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	secret := bytes.Repeat([]byte{7}, subscribers.SecretSize)
	err = db.Update(func(tx *bolt.Tx) error {
		var k [8]byte
		binary.BigEndian.PutUint64(k[:], uint64(sub.MSISDN))
		v, err := json.Marshal(sub)
		if err != nil {
			return err
		}
		for bucket, value := range map[string][]byte{"subscribers": v, "pcr_secrets": secret} {
			b, err := tx.CreateBucketIfNotExists([]byte(bucket))
			if err != nil {
				return err
			}
			if err := b.Put(k[:], value); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

// TestSubscribersMoveFromTheirFileToTheStore: an operator node started on
// a data directory that still has its subscribers.db serves the
// subscribers in it from the state store, with their versions and PCR
// secrets, and the file is renamed so that it is not copied again. A start
// that fails after the copy (here, on a bad key-encryption key) removes
// the state.db it made and leaves the file where it was, so nothing is
// lost.
func TestSubscribersMoveFromTheirFileToTheStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "node")
	created := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	sub := subscribers.Subscriber{MSISDN: 447400123456, Status: subscribers.StatusActive,
		Attributes: subscribers.Attributes{GivenName: "Ada", FamilyName: "Lovelace"},
		CreatedAt:  created, UpdatedAt: created, Version: 3}
	secret := writeOldSubscribersFile(t, dir, sub)
	oldFile := filepath.Join(dir, subscribersFile)

	badKEK := filepath.Join(t.TempDir(), "kek")
	if err := os.WriteFile(badKEK, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testNodeConfig(t, "op", dir)
	cfg.Bootstrap, cfg.OperatorID, cfg.KEKFile = true, "red", badKEK
	if n, err := Start(context.Background(), cfg); err == nil {
		n.Close()
		t.Fatal("the node started with a 5-byte key-encryption key")
	}
	if _, err := os.Stat(oldFile); err != nil {
		t.Fatalf("after a failed start, the old file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, stateFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("after a failed start, the state store: %v", err)
	}

	cfg.KEKFile = ""
	n, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	admin := &client.Admin{Base: n.AdminURL(), Token: testAdminToken}
	ctx := context.Background()
	var got subscribers.Subscriber
	if err := client.Retry(ctx, func() error {
		return admin.Do(ctx, "GET", "/v1/subscribers/"+sub.MSISDN.String(), nil, &got)
	}); err != nil {
		t.Fatal(err)
	}
	if got.Attributes != sub.Attributes || got.Version != sub.Version || !got.CreatedAt.Equal(created) {
		t.Fatalf("the node serves %+v, want %+v", got, sub)
	}
	if s, err := n.subs.PCRSecret(sub.MSISDN); err != nil || !bytes.Equal(s, secret) {
		t.Fatalf("the PCR secret %x, %v; want the old %x", s, err, secret)
	}
	if _, err := os.Stat(oldFile); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the old file after the start: %v", err)
	}
	if _, err := os.Stat(oldFile + subscribers.MigratedSuffix); err != nil {
		t.Fatalf("the renamed file: %v", err)
	}
}

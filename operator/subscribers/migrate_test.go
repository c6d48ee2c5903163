package subscribers

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// oldFile writes a subscribers.db as the store kept it before it moved
// into the state store: the API's JSON under the big-endian number, the
// secrets under the number, the PCR index. It returns the secrets.
func oldFile(t *testing.T, path string, subs []Subscriber, pcrs map[[2]string]MSISDN) map[MSISDN][]byte {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	secrets := map[MSISDN][]byte{}
	err = db.Update(func(tx *bolt.Tx) error {
		b, _ := tx.CreateBucketIfNotExists(oldBucketSubscribers)
		sb, _ := tx.CreateBucketIfNotExists(oldBucketSecrets)
		pb, _ := tx.CreateBucketIfNotExists(oldBucketPCRIndex)
		for i, sub := range subs {
			v, err := json.Marshal(sub)
			if err != nil {
				return err
			}
			if err := b.Put(key(sub.MSISDN), v); err != nil {
				return err
			}
			if sub.Status != StatusDeleted {
				secret := bytes.Repeat([]byte{byte(i + 1)}, SecretSize)
				secrets[sub.MSISDN] = secret
				if err := sb.Put(key(sub.MSISDN), secret); err != nil {
					return err
				}
			}
		}
		for k, m := range pcrs {
			pk, err := pcrKey(k[0], k[1])
			if err != nil {
				return err
			}
			if err := pb.Put(pk, key(m)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return secrets
}

func oldSubscribers(t *testing.T) []Subscriber {
	created := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	swap := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	return []Subscriber{
		{
			MSISDN: mustMSISDN(t, validNumber), Status: StatusActive,
			Attributes: Attributes{GivenName: "Ada", FamilyName: "Lovelace", Address: &Address{Locality: "London"}},
			SIMSwapAt:  &swap,
			Authenticators: []Enrolment{{Type: "fido", ID: "cred-1", CreatedAt: created,
				Data: json.RawMessage(`{"public_key":"AQID"}`)}},
			CreatedAt: created, UpdatedAt: created.Add(time.Hour), Version: 4,
		},
		{MSISDN: mustMSISDN(t, "+447400123457"), Status: StatusSuspended, CreatedAt: created, UpdatedAt: created, Version: 2},
		// A tombstone: its version counter must carry on.
		{MSISDN: mustMSISDN(t, "+447400123458"), Status: StatusDeleted, CreatedAt: created, UpdatedAt: created, Version: 7},
	}
}

// TestMigrateOldFile: a data directory's subscribers.db is copied into the
// state store on the first start with it, records, versions, secrets and
// PCR index alike, and renamed so that it is not copied again; the
// subscribers are then served as before, their PCRs unchanged.
func TestMigrateOldFile(t *testing.T) {
	s, _ := openStore(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "subscribers.db")
	subs := oldSubscribers(t)
	ada, tomb := subs[0], subs[2]
	secrets := oldFile(t, path, subs, map[[2]string]MSISDN{{"shop", "pcr-1"}: ada.MSISDN})

	res, err := s.Migrate(path)
	if err != nil {
		t.Fatal(err)
	}
	if res != (Migrated{From: path, Subscribers: 3, PCRs: 1}) {
		t.Fatalf("migrated %+v", res)
	}
	for _, want := range subs {
		got, err := s.Get(want.MSISDN)
		if err != nil || !same(&got, &want) {
			t.Fatalf("after migrating %+v, %v; want %+v", got, err, want)
		}
	}
	for _, sub := range subs[:2] {
		if got, err := s.PCRSecret(sub.MSISDN); err != nil || !bytes.Equal(got, secrets[sub.MSISDN]) {
			t.Fatalf("the secret of %s: %x, %v; want the old %x", sub.MSISDN, got, err, secrets[sub.MSISDN])
		}
	}
	if got, err := s.LookupPCR("shop", "pcr-1"); err != nil || got != ada.MSISDN {
		t.Fatalf("the PCR index: %s, %v", got, err)
	}
	// The migrated subscribers are changed as any other: If-Match on the
	// old version, and the tombstone's number recycled with its count
	// carried on and a fresh secret.
	if _, err := s.SetStatus(ada.MSISDN, ada.Version, StatusSuspended); err != nil {
		t.Fatal(err)
	}
	re, err := s.Create(Subscriber{MSISDN: tomb.MSISDN})
	if err != nil || re.Version != tomb.Version+1 {
		t.Fatalf("recycling the tombstone's number: %+v, %v", re, err)
	}
	if secret, err := s.PCRSecret(tomb.MSISDN); err != nil || len(secret) != SecretSize {
		t.Fatalf("the recycled number's secret: %x, %v", secret, err)
	}

	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the old file is still there: %v", err)
	}
	if _, err := os.Stat(path + MigratedSuffix); err != nil {
		t.Fatalf("the renamed file: %v", err)
	}
	// The next start finds nothing to copy and changes nothing.
	if res, err := s.Migrate(path); err != nil || res != (Migrated{}) {
		t.Fatalf("migrating again: %+v, %v", res, err)
	}
	if got, err := s.Get(ada.MSISDN); err != nil || got.Status != StatusSuspended {
		t.Fatalf("after the second start: %+v, %v", got, err)
	}
}

// TestMigrateInterruptedAndShared: a copy interrupted before the rename is
// run again whole without changing what it copied, and a number the store
// already has (another node of the operator copied its own file first)
// keeps the store's record and secret.
func TestMigrateInterruptedAndShared(t *testing.T) {
	s, _ := openStore(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "subscribers.db")
	subs := oldSubscribers(t)
	secrets := oldFile(t, path, subs, nil)

	// The store already has the second number, as another node made it.
	other, err := s.Create(Subscriber{MSISDN: subs[1].MSISDN, Attributes: Attributes{GivenName: "Other"}})
	if err != nil {
		t.Fatal(err)
	}
	otherSecret, err := s.PCRSecret(other.MSISDN)
	if err != nil {
		t.Fatal(err)
	}

	// A first run that stopped before the rename (a node whose start
	// failed after the copy).
	if res, err := s.CopyOld(path); err != nil || res != (Migrated{From: path, Subscribers: 2, Kept: 1}) {
		t.Fatalf("first run: %+v, %v", res, err)
	}
	if res, err := s.Migrate(path); err != nil || res != (Migrated{From: path, Subscribers: 2, Kept: 1}) {
		t.Fatalf("second run: %+v, %v", res, err)
	}
	ada, err := s.Get(subs[0].MSISDN)
	if err != nil || ada.Version != subs[0].Version {
		t.Fatalf("after running twice: %+v, %v", ada, err)
	}
	if got, err := s.PCRSecret(ada.MSISDN); err != nil || !bytes.Equal(got, secrets[ada.MSISDN]) {
		t.Fatalf("the secret after running twice: %x, %v", got, err)
	}
	kept, err := s.Get(other.MSISDN)
	if err != nil || kept.Attributes.GivenName != "Other" || kept.Version != other.Version {
		t.Fatalf("the store's own record: %+v, %v", kept, err)
	}
	if got, err := s.PCRSecret(other.MSISDN); err != nil || !bytes.Equal(got, otherSecret) {
		t.Fatalf("the store's own secret: %x, %v; want %x", got, err, otherSecret)
	}
}

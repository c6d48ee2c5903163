package subscribers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mcfed/mcfed/operator/state"
)

// The buckets of the file the store was before it moved into the state
// store: records in the API's JSON form keyed by the big-endian number,
// secrets by the number, the PCR index as it is now.
var (
	oldBucketSubscribers = []byte("subscribers")
	oldBucketSecrets     = []byte("pcr_secrets")
	oldBucketPCRIndex    = []byte("pcr_index")
)

// MigratedSuffix is added to the name of a file Migrate has copied.
const MigratedSuffix = ".migrated"

// Migrated counts what Migrate copied.
type Migrated struct {
	From        string // the file copied; "" when there was none
	Subscribers int    // records copied, tombstones included
	// Kept are numbers the store already had a record of (another node of
	// the operator copied its own file first): the store's record stays,
	// with its secret.
	Kept int
	PCRs int // PCR index entries copied (or found there already)
}

// Migrate copies the subscribers of the bbolt file at path into s
// (CopyOld), then renames the file to path+MigratedSuffix, so that it is
// copied once. No file at path is no error and copies nothing.
func (s *Store) Migrate(path string) (Migrated, error) {
	res, err := s.CopyOld(path)
	if err != nil || res.From == "" {
		return res, err
	}
	return res, RetireOld(path)
}

// RetireOld renames the old file at path, copied, to path+MigratedSuffix.
func RetireOld(path string) error {
	if err := os.Rename(path, path+MigratedSuffix); err != nil {
		return fmt.Errorf("copied the subscribers of %s into the state store, but: %w", path, err)
	}
	return nil
}

// CopyOld copies the subscribers of the bbolt file at path (a data
// directory's subscribers.db, from before the subscriber store moved into
// the state store) into s: records with their versions, tombstones, PCR
// secrets, the PCR index. It leaves the file as it is: a caller that may
// yet undo what it made (a node whose start fails removes the state.db it
// made) renames it with RetireOld once that can no longer happen.
//
// Each step is a Create, so copying again (the file was not renamed)
// copies what is missing and changes nothing else: a number the store
// already has keeps the store's record (another node of the operator
// copied its own file first, or the subscriber changed since). A holder's
// secret is copied before its record, so that no node sharing the store
// can make a new secret for the copied record in between (PCRSecret): the
// subscriber's PCRs stay what they were.
func (s *Store) CopyOld(path string) (Migrated, error) {
	var res Migrated
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return res, nil
	}
	res.From = path
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		return res, fmt.Errorf("opening the old subscriber store %s: %w", path, err)
	}
	err = db.View(func(tx *bolt.Tx) error { return s.migrate(tx, &res) })
	if cerr := db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("closing the old subscriber store %s: %w", path, cerr)
	}
	if err != nil {
		return res, fmt.Errorf("copying the subscribers of %s into the state store: %w", path, err)
	}
	return res, nil
}

func (s *Store) migrate(tx *bolt.Tx, res *Migrated) error {
	ctx := context.Background()
	subs, secrets := tx.Bucket(oldBucketSubscribers), tx.Bucket(oldBucketSecrets)
	if subs != nil {
		err := subs.ForEach(func(k, v []byte) error {
			kept, err := s.migrateOne(ctx, k, v, secrets)
			if kept {
				res.Kept++
			} else if err == nil {
				res.Subscribers++
			}
			return err
		})
		if err != nil {
			return err
		}
	}
	if b := tx.Bucket(oldBucketPCRIndex); b != nil {
		err := b.ForEach(func(k, v []byte) error {
			if len(k) != 32 || len(v) != 8 {
				return fmt.Errorf("corrupt PCR index entry %x", k)
			}
			err := s.st.Create(ctx, kindPCR, k, v, never)
			if err != nil && !errors.Is(err, state.ErrExists) {
				return fmt.Errorf("copying a PCR index entry: %w", err)
			}
			res.PCRs++
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// migrateOne copies one old record (k, v) and its holder's secret; kept
// says the store had a record of the number already, other than this one.
func (s *Store) migrateOne(ctx context.Context, k, v []byte, secrets *bolt.Bucket) (kept bool, err error) {
	m, err := numberOf(k)
	if err != nil {
		return false, err
	}
	var sub Subscriber
	if err := json.Unmarshal(v, &sub); err != nil {
		return false, fmt.Errorf("corrupt subscriber record %s: %w", m, err)
	}
	sub.MSISDN = m
	// The holder's generation is its version now: any later holder's is
	// higher, since versions only grow.
	var gen uint64
	if sub.Status != StatusDeleted {
		gen = sub.Version
	}
	rec, err := encodeRecord(&sub, gen)
	if err != nil {
		return false, err
	}
	if _, _, err := decodeRecord(m, rec.Value); err != nil {
		return false, err // what the store would refuse to read
	}
	var madeSecret bool
	if secret := secrets.Get(k); gen != 0 && secret != nil {
		if len(secret) != SecretSize {
			return false, fmt.Errorf("corrupt PCR secret of %s: %d bytes", m, len(secret))
		}
		switch err := s.st.Create(ctx, kindSecret, secretKey(m, gen), secret, never); {
		case err == nil:
			madeSecret = true
		case !errors.Is(err, state.ErrExists):
			return false, fmt.Errorf("copying the PCR secret of %s: %w", m, err)
		}
	}
	err = s.st.Create(ctx, kindRecord, k, rec.Value, never)
	if !errors.Is(err, state.ErrExists) {
		if err != nil {
			return false, fmt.Errorf("copying subscriber %s: %w", m, err)
		}
		return false, nil
	}
	// The store has the number. The same record (a copy interrupted and
	// run again) is no conflict; another is the store's to keep, and the
	// secret made for this one must not outlive it.
	cur, err := s.st.Get(ctx, kindRecord, k)
	if err != nil {
		return false, fmt.Errorf("reading subscriber %s: %w", m, err)
	}
	if string(cur.Value) == string(rec.Value) {
		return false, nil
	}
	if _, curGen, err := decodeRecord(m, cur.Value); madeSecret && (err != nil || curGen != gen) {
		if err := s.st.Delete(ctx, kindSecret, secretKey(m, gen)); err != nil {
			return true, fmt.Errorf("removing the PCR secret copied for %s: %w", m, err)
		}
	}
	return true, nil
}

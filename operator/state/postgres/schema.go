package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// migrations are the schema's versions: migrations[v-1] takes the schema
// from version v-1 to v. Append only; a released step is never edited.
//
// One table holds every kind. expires is Unix nanoseconds
// (state.ExpiryNanos), not timestamptz: the store compares it only with
// its node's clock, passed in (never the database's now()), so a time
// type would buy nothing, and timestamptz keeps microseconds, so a
// record would come back with an Expires other than the one written (the
// embedded store and the conformance suite keep nanoseconds). To read it
// in psql: to_timestamp(expires / 1e9). The expires index serves Sweep.
// kind is compared bytewise (COLLATE "C"), as bytea keys are.
var migrations = [][]string{
	{
		`CREATE TABLE mcfed_state (
			kind    text COLLATE "C" NOT NULL,
			key     bytea NOT NULL,
			value   bytea NOT NULL,
			expires bigint NOT NULL,
			PRIMARY KEY (kind, key)
		)`,
		`CREATE INDEX mcfed_state_expires ON mcfed_state (expires)`,
	},
	// Version 2: Spend's counters, spent in one statement. Each counter
	// is one INSERT ... ON CONFLICT DO UPDATE that adds one only while
	// the live count is below the limit (an expired record counts 0),
	// in order, and the first that does not stops the loop: its row
	// lock orders concurrent spenders, and the statement is one
	// implicit transaction, all or none. It answers the index (from 0)
	// of the counter that stopped it, or -1.
	{
		`CREATE FUNCTION mcfed_spend(p_kinds text[], p_keys bytea[], p_limits bigint[], p_expires bigint[], p_now bigint)
		RETURNS integer LANGUAGE plpgsql AS $$
		BEGIN
			FOR i IN 1 .. coalesce(array_length(p_kinds, 1), 0) LOOP
				IF p_limits[i] <= 0 THEN
					RETURN i - 1;
				END IF;
				INSERT INTO mcfed_state AS s (kind, key, value, expires)
				VALUES (p_kinds[i], p_keys[i], convert_to('1', 'UTF8'), p_expires[i])
				ON CONFLICT (kind, key) DO UPDATE
				SET value = convert_to((CASE WHEN s.expires > p_now
						THEN convert_from(s.value, 'UTF8')::bigint ELSE 0 END + 1)::text, 'UTF8'),
					expires = EXCLUDED.expires
				WHERE CASE WHEN s.expires > p_now
						THEN convert_from(s.value, 'UTF8')::bigint ELSE 0 END < p_limits[i];
				IF NOT FOUND THEN
					RETURN i - 1;
				END IF;
			END LOOP;
			RETURN -1;
		END
		$$`,
	},
}

// migrationLock is the advisory lock key under which a node migrates:
// two nodes starting at once apply each step once, one after the other.
const migrationLock int64 = 0x6d63666564737431 // "mcfedst1"

// ErrSchemaNewer is Open's answer when the database's schema is a version
// this build does not know: a newer build migrated it.
var ErrSchemaNewer = errors.New("state: the database's schema is newer than this build's")

// migrate brings the schema to the last version, in one transaction.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	// Transaction-scoped: released at commit or rollback, even if the
	// node dies between.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS mcfed_state_schema (
		version integer PRIMARY KEY,
		applied timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return err
	}
	var version int
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM mcfed_state_schema`).Scan(&version); err != nil {
		return err
	}
	if version > len(migrations) {
		return fmt.Errorf("%w: version %d, this build knows up to %d", ErrSchemaNewer, version, len(migrations))
	}
	for v := version + 1; v <= len(migrations); v++ {
		for _, stmt := range migrations[v-1] {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("schema version %d: %w", v, err)
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO mcfed_state_schema (version) VALUES ($1)`, v); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

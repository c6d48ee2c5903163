// A durable node-oidc-provider adapter on SQLite (better-sqlite3): what a
// production deployment would use in place of the provider's in-memory
// development adapter, so that the comparison with mcfed, whose every login
// step is a synced write of its state store, is like for like.
//
// One table for all models, keyed by (model, id), the payload as JSON and
// the columns the provider looks things up by (grantId, userCode, uid).
// WAL journal with synchronous=FULL: each commit is fsynced, as each of
// bbolt's is. The writes waiting together share one commit (group commit,
// as mcfed's embedded store does): a write is queued, the queue committed
// as one transaction once the event loop has run what is ready, and each
// write's promise settles after that commit, so the provider goes on only
// once its write is durable. With groupCommit false, each write is its own
// transaction and fsync. better-sqlite3 is synchronous, so a commit holds
// Node's one thread during its fsync: that costs flows per wall-second more
// than flows per CPU-second, which is what compare.sh measures.
//
// Expiry: a row expires expiresIn (+ clockTolerance) seconds after its last
// upsert, as in the provider's memory adapter; an expired row is not found
// (find, findByUid, findByUserCode) and a sweep deletes expired rows every
// sweepSeconds.
import Database from 'better-sqlite3';

// The models whose rows carry a grantId that revokeByGrantId deletes by.
const grantable = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'PreAuthorizedCode',
]);

const schema = `
CREATE TABLE IF NOT EXISTS oidc (
  model TEXT NOT NULL,
  id TEXT NOT NULL,
  payload TEXT NOT NULL,
  grant_id TEXT,
  user_code TEXT,
  uid TEXT,
  expires_at INTEGER,  -- ms since the epoch; NULL: never
  consumed_at INTEGER, -- s since the epoch, as the provider's "consumed"
  PRIMARY KEY (model, id)
);
CREATE INDEX IF NOT EXISTS oidc_grant ON oidc (model, grant_id) WHERE grant_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS oidc_user_code ON oidc (model, user_code) WHERE user_code IS NOT NULL;
CREATE INDEX IF NOT EXISTS oidc_uid ON oidc (model, uid) WHERE uid IS NOT NULL;
CREATE INDEX IF NOT EXISTS oidc_expires ON oidc (expires_at) WHERE expires_at IS NOT NULL;
`;

const live = '(expires_at IS NULL OR expires_at > @now)';

// createSqliteAdapter opens (or creates) the database at path and returns
// { adapter, sweep, count, close }: adapter is the class for the provider's
// `adapter` option, sweep() deletes the expired rows now, count() the rows
// kept, close() stops the sweep and closes the database. now is the clock
// (ms since the epoch) expiry is judged by.
export function createSqliteAdapter(path, {
  clockTolerance = 0, sweepSeconds = 10, groupCommit = true, now = Date.now,
} = {}) {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec(schema);

  const q = {
    upsert: db.prepare(`INSERT INTO oidc (model, id, payload, grant_id, user_code, uid, expires_at, consumed_at)
      VALUES (@model, @id, @payload, @grantId, @userCode, @uid, @expiresAt, NULL)
      ON CONFLICT (model, id) DO UPDATE SET payload = excluded.payload, grant_id = excluded.grant_id,
        user_code = excluded.user_code, uid = excluded.uid, expires_at = excluded.expires_at,
        consumed_at = NULL`),
    find: db.prepare(`SELECT payload, consumed_at FROM oidc WHERE model = @model AND id = @id AND ${live}`),
    findByUid: db.prepare(`SELECT payload, consumed_at FROM oidc WHERE model = @model AND uid = @uid AND ${live}`),
    findByUserCode: db.prepare(`SELECT payload, consumed_at FROM oidc
      WHERE model = @model AND user_code = @userCode AND ${live}`),
    consume: db.prepare('UPDATE oidc SET consumed_at = @consumedAt WHERE model = @model AND id = @id'),
    destroy: db.prepare('DELETE FROM oidc WHERE model = @model AND id = @id'),
    revokeByGrantId: db.prepare('DELETE FROM oidc WHERE model = @model AND grant_id = @grantId'),
    sweep: db.prepare('DELETE FROM oidc WHERE expires_at <= @now'),
    count: db.prepare('SELECT count(*) AS n FROM oidc').pluck(),
  };

  // write runs fn (one statement's run) in a commit, now or with the
  // writes queued beside it, and settles once that commit is synced.
  let queue = [];
  function commitQueue() {
    const batch = queue;
    queue = [];
    try {
      db.transaction(() => batch.forEach((w) => w.fn()))();
      batch.forEach((w) => w.resolve());
    } catch {
      // The whole transaction rolled back: each write again alone, for its
      // own answer.
      batch.forEach((w) => {
        try {
          w.fn();
          w.resolve();
        } catch (err) {
          w.reject(err);
        }
      });
    }
  }
  function write(fn) {
    if (!groupCommit) {
      fn();
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      if (queue.length === 0) {
        setImmediate(commitQueue);
      }
      queue.push({ fn, resolve, reject });
    });
  }

  function row(r) {
    if (!r) {
      return undefined;
    }
    const payload = JSON.parse(r.payload);
    if (r.consumed_at !== null) {
      payload.consumed = r.consumed_at;
    }
    return payload;
  }

  class SqliteAdapter {
    constructor(model) {
      this.model = model;
    }

    async upsert(id, payload, expiresIn) {
      const params = {
        model: this.model,
        id,
        payload: JSON.stringify(payload),
        grantId: grantable.has(this.model) ? payload.grantId ?? null : null,
        userCode: payload.userCode ?? null,
        uid: this.model === 'Session' ? payload.uid ?? null : null,
        expiresAt: typeof expiresIn === 'number' ? now() + (expiresIn + clockTolerance) * 1000 : null,
      };
      await write(() => q.upsert.run(params));
    }

    async find(id) {
      return row(q.find.get({ model: this.model, id, now: now() }));
    }

    async findByUid(uid) {
      return row(q.findByUid.get({ model: this.model, uid, now: now() }));
    }

    async findByUserCode(userCode) {
      return row(q.findByUserCode.get({ model: this.model, userCode, now: now() }));
    }

    async consume(id) {
      const params = { model: this.model, id, consumedAt: Math.floor(now() / 1000) };
      await write(() => q.consume.run(params));
    }

    async destroy(id) {
      await write(() => q.destroy.run({ model: this.model, id }));
    }

    async revokeByGrantId(grantId) {
      await write(() => q.revokeByGrantId.run({ model: this.model, grantId }));
    }
  }

  const sweep = () => write(() => q.sweep.run({ now: now() }));
  const sweeper = setInterval(() => sweep().catch((err) => console.error('sweep:', err)), sweepSeconds * 1000);
  sweeper.unref();

  return {
    adapter: SqliteAdapter,
    sweep,
    count: () => q.count.get(),
    close() {
      clearInterval(sweeper);
      if (queue.length) {
        commitQueue();
      }
      db.close();
    },
  };
}

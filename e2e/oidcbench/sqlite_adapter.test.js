// The SQLite adapter keeps what node-oidc-provider asks of an adapter, on
// disk: node --test (npm test) in e2e/oidcbench.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSqliteAdapter } from './sqlite_adapter.js';

// open gives a store on a fresh file in a directory removed after the test,
// its clock at clock.ms.
function open(t, options = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'oidcbench-sqlite-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const clock = { ms: 1_800_000_000_000 };
  const path = join(dir, 'oidc.db');
  const reopen = () => createSqliteAdapter(path, { now: () => clock.ms, ...options });
  return { clock, reopen };
}

for (const groupCommit of [true, false]) {
  test(`the provider's calls, kept across a reopen (groupCommit ${groupCommit})`, async (t) => {
    const { reopen } = open(t, { groupCommit });
    let store = reopen();
    const Session = new store.adapter('Session');
    const AccessToken = new store.adapter('AccessToken');
    const AuthorizationCode = new store.adapter('AuthorizationCode');
    const DeviceCode = new store.adapter('DeviceCode');

    await Session.upsert('s1', { jti: 's1', uid: 'u1', accountId: 'a' }, 3600);
    await AccessToken.upsert('at1', { jti: 'at1', grantId: 'g1' }, 3600);
    await AuthorizationCode.upsert('c1', { jti: 'c1', grantId: 'g1' }, 60);
    await DeviceCode.upsert('d1', { jti: 'd1', userCode: 'ABCD-EFGH' }, 600);
    await AuthorizationCode.consume('c1');
    // A model's rows are its own: another model's id is not found.
    assert.equal(await AccessToken.find('c1'), undefined);
    store.close();

    store = reopen();
    t.after(() => store.close());
    const reopened = (model) => new store.adapter(model);
    assert.deepEqual(await reopened('Session').findByUid('u1'), { jti: 's1', uid: 'u1', accountId: 'a' });
    assert.equal(await reopened('Session').findByUid('u2'), undefined);
    assert.deepEqual(await reopened('DeviceCode').findByUserCode('ABCD-EFGH'), { jti: 'd1', userCode: 'ABCD-EFGH' });
    const code = await reopened('AuthorizationCode').find('c1');
    assert.equal(typeof code.consumed, 'number');
    assert.equal(code.grantId, 'g1');

    // A new upsert replaces the payload, consumed included.
    await reopened('AuthorizationCode').upsert('c1', { jti: 'c1', grantId: 'g1' }, 60);
    assert.equal((await reopened('AuthorizationCode').find('c1')).consumed, undefined);

    // revokeByGrantId deletes its model's rows of the grant only.
    await reopened('AccessToken').revokeByGrantId('g1');
    assert.equal(await reopened('AccessToken').find('at1'), undefined);
    assert.notEqual(await reopened('AuthorizationCode').find('c1'), undefined);

    await reopened('Session').destroy('s1');
    assert.equal(await reopened('Session').find('s1'), undefined);
    assert.equal(await reopened('Session').findByUid('u1'), undefined);
    assert.equal(store.count(), 2); // the code and the device code
  });
}

test('an expired row is not found, and the sweep deletes it', async (t) => {
  const { clock, reopen } = open(t, { clockTolerance: 5 });
  const store = reopen();
  t.after(() => store.close());
  const Session = new store.adapter('Session');
  const Grant = new store.adapter('Grant');
  await Session.upsert('s1', { jti: 's1', uid: 'u1' }, 60);
  await Grant.upsert('g1', { jti: 'g1' }); // no expiry

  clock.ms += 65_000 - 1; // expiresIn + clockTolerance, less a millisecond
  assert.notEqual(await Session.find('s1'), undefined);
  await store.sweep();
  assert.equal(store.count(), 2);

  clock.ms += 1;
  assert.equal(await Session.find('s1'), undefined);
  assert.equal(await Session.findByUid('u1'), undefined);
  assert.equal(store.count(), 2); // expired, not yet swept
  await store.sweep();
  assert.equal(store.count(), 1);
  assert.deepEqual(await Grant.find('g1'), { jti: 'g1' });
});

test('writes waiting together are all kept', async (t) => {
  const { reopen } = open(t);
  let store = reopen();
  const AccessToken = new store.adapter('AccessToken');
  await Promise.all(Array.from({ length: 200 }, (_, i) => AccessToken.upsert(`at${i}`, { jti: `at${i}` }, 3600)));
  store.close();
  store = reopen();
  t.after(() => store.close());
  assert.equal(store.count(), 200);
  assert.deepEqual(await new store.adapter('AccessToken').find('at199'), { jti: 'at199' });
});

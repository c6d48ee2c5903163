// A node-oidc-provider 9 server with an auto-approving login: the baseline
// mcfed's logins are compared with (compare.sh). One Node process on
// loopback, two confidential clients registered in code that differ only
// in their ID token algorithm (bench-rs256, bench-es256), PKCE required.
// Its state is kept by the provider's in-memory adapter (development only,
// by its own documentation), or with --sqlite FILE durably in a SQLite
// database, each commit fsynced and the writes waiting together sharing one
// (sqlite_adapter.js), as mcfed's state store commits each step of a login.
//
// A flow is 5 HTTP requests: /auth -> /interaction/<uid> (logs the user in
// at once, consent granted by loadExistingGrant) -> /auth/<uid> -> the
// redirect URI with the code; then /token and /me (userinfo).
//
//   node server.js [--port 0] [--secret S] [--sqlite FILE [--no-group-commit]]
//
// prints "listening http://127.0.0.1:<port>" once it serves.
import { createServer } from 'node:http';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import Provider from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    secret: { type: 'string', default: 'oidcbench-client-secret-0123456789abcdef' },
    sqlite: { type: 'string' },
    // Each write its own commit and fsync, not grouped with those waiting
    // beside it (sqlite_adapter.js).
    'no-group-commit': { type: 'boolean', default: false },
  },
});

// undefined: the provider's in-memory adapter. Imported only when asked
// for, so that the in-memory server is as it always was.
const store = args.sqlite
  ? (await import('./sqlite_adapter.js')).createSqliteAdapter(args.sqlite, { groupCommit: !args['no-group-commit'] })
  : undefined;
if (store) {
  // Close the database on the way out (compare.sh stops the server so),
  // checkpointing its WAL.
  process.on('SIGTERM', () => {
    store.close();
    process.exit(0);
  });
}

const redirectURI = 'http://127.0.0.1/callback';

function signingKey(type, options, alg) {
  const jwk = generateKeyPairSync(type, options).privateKey.export({ format: 'jwk' });
  return { ...jwk, alg, use: 'sig', kid: alg.toLowerCase() };
}

const clients = ['RS256', 'ES256'].map((alg) => ({
  client_id: `bench-${alg.toLowerCase()}`,
  client_secret: args.secret,
  redirect_uris: [redirectURI],
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
  id_token_signed_response_alg: alg,
}));

const server = createServer();
server.listen(Number(args.port), '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    adapter: store?.adapter,
    clients,
    jwks: {
      keys: [
        signingKey('rsa', { modulusLength: 2048 }, 'RS256'),
        signingKey('ec', { namedCurve: 'P-256' }, 'ES256'),
      ],
    },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    claims: { openid: ['sub'], profile: ['given_name', 'family_name'] },
    features: { devInteractions: { enabled: false } },
    pkce: { required: () => true },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(ctx, sub) {
      return { accountId: sub, claims: () => ({ sub, given_name: 'Load', family_name: 'User' }) };
    },
    // Consent is given for every client, as a first-party login would:
    // the grant is made on the first authorization of a session.
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId
        || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) {
        return ctx.oidc.provider.Grant.find(grantId);
      }
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope('openid profile');
      await grant.save();
      return grant;
    },
  });
  const oidc = provider.callback();
  server.on('request', async (req, res) => {
    if (!req.url.startsWith('/interaction/')) {
      oidc(req, res);
      return;
    }
    // The auto-approving login: whoever asks is user-<n>, logged in.
    try {
      const { prompt } = await provider.interactionDetails(req, res);
      if (prompt.name !== 'login') {
        throw new Error(`unexpected prompt ${prompt.name}`);
      }
      const accountId = `user-${randomBytes(6).toString('hex')}`;
      await provider.interactionFinished(req, res, { login: { accountId } }, { mergeWithLastSubmission: false });
    } catch (err) {
      res.statusCode = 500;
      res.end(String(err));
    }
  });
  console.log(`listening ${issuer}`);
});

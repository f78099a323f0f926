// A SMART Backend Services authorization server for Ferry's tests: oidc-provider 9 with one
// client that authenticates with `private_key_jwt` (its JWKS made from the public keys given on
// the command line), the `client_credentials` grant, and JWT access tokens for one resource
// (audience). oidc-provider itself refuses a wrong key, an expired assertion and a replayed `jti`.
//
//   node server.mjs [--port N] [--client-id ID] --public-key PEM [--public-key PEM ...]
//                   [--ttl SECONDS] [--advertise-ttl SECONDS] [--audience AUD]
//                   [--scopes "system/*.cruds ..."] [--log]
//
// --advertise-ttl says a longer `expires_in` than the token really has (a server whose clock or
// answer is off), so that a client meets a 401 on an expired token and must renew it.
//
// Prints `listening http://127.0.0.1:PORT` (the issuer) on stdout when ready. Test helper:
// `GET /admin/stats` -> {"tokens": n, "refused": [{"error", "detail"}...]}. The client's keys get
// `kid` key-1, key-2, ... in the order given.

import { createPublicKey, generateKeyPairSync, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import Provider, { errors } from 'oidc-provider';

function parseArgs(argv) {
  const o = {
    port: 0,
    clientId: 'ferry-test',
    publicKeys: [],
    ttl: 300,
    audience: 'urn:ferry:test-fhir',
    scopes: 'system/*.cruds system/*.rs system/*.read system/*.write',
    advertiseTtl: undefined,
    log: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--port') o.port = Number(next());
    else if (a === '--client-id') o.clientId = next();
    else if (a === '--public-key') o.publicKeys.push(next());
    else if (a === '--ttl') o.ttl = Number(next());
    else if (a === '--advertise-ttl') o.advertiseTtl = Number(next());
    else if (a === '--audience') o.audience = next();
    else if (a === '--scopes') o.scopes = next();
    else if (a === '--log') o.log = true;
    else throw new Error(`unknown argument ${a}`);
  }
  if (o.publicKeys.length === 0) throw new Error('--public-key PEM is required (the client\'s public key)');
  return o;
}

/** A public PEM (EC P-384 or RSA) as a JWK with its SMART algorithm. */
function jwkOf(path, n) {
  const key = createPublicKey(readFileSync(path));
  const jwk = key.export({ format: 'jwk' });
  if (jwk.kty === 'EC' && jwk.crv === 'P-384') jwk.alg = 'ES384';
  else if (jwk.kty === 'RSA') jwk.alg = 'RS384';
  else throw new Error(`${path}: not an EC P-384 or RSA public key`);
  jwk.use = 'sig';
  jwk.kid = `key-${n}`;
  return jwk;
}

const opts = parseArgs(process.argv.slice(2));
const clientKeys = opts.publicKeys.map((path, i) => jwkOf(path, i + 1));

// The server's own signing key for access tokens, new each start.
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signing = { ...privateKey.export({ format: 'jwk' }), alg: 'ES256', use: 'sig', kid: randomUUID() };

const stats = { tokens: 0, refused: [] };

const server = createServer();
server.listen(opts.port, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const resourceServer = {
    scope: opts.scopes,
    audience: opts.audience,
    accessTokenTTL: opts.ttl,
    accessTokenFormat: 'jwt',
    jwt: { sign: { alg: 'ES256' } },
  };
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: opts.clientId,
        token_endpoint_auth_method: 'private_key_jwt',
        jwks: { keys: clientKeys },
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        id_token_signed_response_alg: 'ES256',
      },
    ],
    jwks: { keys: [signing] },
    clientAuthMethods: ['private_key_jwt'],
    enabledJWA: { clientAuthSigningAlgValues: ['ES384', 'RS384'] },
    ttl: { ClientCredentials: opts.ttl },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => opts.audience,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resource) => {
          if (resource !== opts.audience) throw new errors.InvalidTarget();
          return resourceServer;
        },
      },
    },
  });
  provider.on('grant.success', () => {
    stats.tokens += 1;
    if (opts.log) process.stderr.write(`token issued (${stats.tokens})\n`);
  });
  const refused = (_ctx, err) => {
    // error_detail says why (expired, replayed, signature); it never holds the assertion.
    stats.refused.push({ error: err.error, detail: err.error_detail ?? err.error_description });
    if (opts.log) process.stderr.write(`refused: ${err.error} ${err.error_detail ?? ''}\n`);
  };
  provider.on('grant.error', refused);
  provider.on('server_error', refused);
  if (opts.advertiseTtl !== undefined) {
    provider.use(async (ctx, next) => {
      await next();
      if (ctx.body && typeof ctx.body === 'object' && 'expires_in' in ctx.body) ctx.body.expires_in = opts.advertiseTtl;
    });
  }
  const callback = provider.callback();
  server.on('request', (req, res) => {
    if (req.url === '/admin/stats') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(stats));
      return;
    }
    callback(req, res);
  });
  process.stdout.write(`listening ${issuer}\n`);
});

process.on('SIGTERM', () => process.exit(0));

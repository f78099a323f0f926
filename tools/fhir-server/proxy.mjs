#!/usr/bin/env node
// A fault-injecting HTTP proxy for testing a FHIR loader's retries and exactly-once behaviour.
//
//   node proxy.mjs --target http://127.0.0.1:PORT [--port N] [--rate P] [--seed S]
//                  [--kinds 503,429,entry429,reset-before,reset-after,slow]
//                  [--slow-ms 2000] [--entry-fraction 0.3] [--entry429-mode random|tail] [--log]
//
// Prints exactly one line "listening http://127.0.0.1:PORT" on stdout when ready. Forwards every
// request to the target (keeping the client's Host header, so Location and paging links the server
// builds point back at the proxy). With probability --rate per request it injects one fault kind,
// chosen uniformly among the enabled kinds that apply to the request:
//   503           answer 503 + OperationOutcome; not forwarded (nothing applied)
//   429           answer 429 + Retry-After: 1 + OperationOutcome; not forwarded
//   entry429      only for a POSTed Bundle of type batch: some entries are removed before
//                 forwarding (so they are NOT applied) and come back in the 200 batch-response at
//                 their positions with response.status "429 Too Many Requests"
//   reset-before  read the request, then destroy the connection; not forwarded
//   reset-after   forward (applied), wait for the answer, then destroy the connection instead
//                 of answering: the client cannot know its write landed
//   slow          forward, then hold the answer --slow-ms (2000) ms before sending it
// /admin/* is forwarded without faults; /proxy/* is the proxy's own:
//   GET /proxy/stats   -> {"requests", "forwarded", "faults": {kind: n}, "entries429"}
//   POST /proxy/config -> body {"rate"?: P, "kinds"?: [..], "slowMs"?: MS} changes them at run time
// Deterministic with --seed: request number n (in arrival order) draws from its own PRNG seeded
// by (seed, n), so a client that sends requests one at a time sees the same faults every run.
// The fault counts are printed to stderr as JSON on SIGTERM/SIGINT.

import { createServer, request as httpRequest, Agent } from 'node:http';

const ALL_KINDS = ['503', '429', 'entry429', 'reset-before', 'reset-after', 'slow'];

function usage(msg) {
  process.stderr.write(
    `${msg}\nusage: node proxy.mjs --target URL [--port N] [--rate P] [--seed S] [--kinds ${ALL_KINDS.join(',')}]\n` +
      `         [--slow-ms MS] [--entry-fraction F] [--entry429-mode random|tail] [--log]\n`
  );
  process.exit(2);
}

function parseKinds(list) {
  const kinds = (Array.isArray(list) ? list : String(list).split(',')).map((k) => String(k).trim()).filter(Boolean);
  for (const k of kinds) if (!ALL_KINDS.includes(k)) throw new Error(`unknown fault kind: ${k}`);
  return kinds;
}

const opts = {
  target: undefined,
  port: 0,
  rate: 0,
  seed: 1,
  kinds: ALL_KINDS,
  slowMs: 2000,
  entryFraction: 0.3,
  entryMode: 'random',
  log: false,
};
{
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i++) {
    const need = () => (i + 1 < a.length ? a[++i] : usage(`${a[i]} needs a value`));
    const num = (v, lo, hi) => {
      const n = Number(v);
      return Number.isFinite(n) && n >= lo && n <= hi ? n : usage(`${a[i - 1]}: expected a number in [${lo}, ${hi}]: ${v}`);
    };
    switch (a[i]) {
      case '--target': opts.target = need(); break;
      case '--port': opts.port = num(need(), 0, 65535); break;
      case '--rate': opts.rate = num(need(), 0, 1); break;
      case '--seed': opts.seed = num(need(), -(2 ** 53), 2 ** 53) >>> 0; break;
      case '--kinds':
        try { opts.kinds = parseKinds(need()); } catch (e) { usage(e.message); }
        break;
      case '--slow-ms': opts.slowMs = num(need(), 0, 600000); break;
      case '--entry-fraction': opts.entryFraction = num(need(), 0, 1); break;
      case '--entry429-mode':
        opts.entryMode = need();
        if (!['random', 'tail'].includes(opts.entryMode)) usage(`--entry429-mode: random or tail`);
        break;
      case '--log': opts.log = true; break;
      case '-h': case '--help': usage('fault-injecting proxy'); break;
      default: usage(`unknown argument: ${a[i]}`);
    }
  }
}
if (!opts.target) usage('--target is required');
let target;
try {
  target = new URL(opts.target);
  if (target.protocol !== 'http:') throw new Error('only http:// targets');
} catch (e) {
  usage(`bad --target ${opts.target}: ${e.message}`);
}
const targetPrefix = target.pathname.replace(/\/+$/, '');

// mulberry32: a small seeded PRNG; one per request, seeded from (seed, request number).
function mulberry32(a) {
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function requestRng(n) {
  const mix = mulberry32((opts.seed ^ Math.imul(n + 1, 0x9e3779b1)) >>> 0);
  mix();
  return mulberry32(Math.floor(mix() * 4294967296));
}

const stats = { requests: 0, forwarded: 0, faults: Object.fromEntries(ALL_KINDS.map((k) => [k, 0])), entries429: 0 };
let seq = 0;

const agent = new Agent({ keepAlive: true, maxSockets: 64 });
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'content-length']);

function outcome(code, text) {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, details: { text } }] };
}
function sendJson(res, status, body, headers = {}) {
  if (res.destroyed) return;
  const data = Buffer.from(JSON.stringify(body), 'utf8');
  res.writeHead(status, { 'Content-Type': 'application/fhir+json; charset=utf-8', 'Content-Length': data.length, ...headers });
  res.end(data);
}
function readBody(stream) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    stream.on('data', (c) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Sends the request upstream; resolves {status, headers, body} with the whole answer. */
function forward(req, body) {
  return new Promise((resolve, reject) => {
    const headers = {};
    for (const [k, v] of Object.entries(req.headers)) if (!HOP.has(k)) headers[k] = v;
    headers['content-length'] = String(body.length);
    const up = httpRequest(
      {
        protocol: target.protocol,
        hostname: target.hostname,
        port: target.port || 80,
        method: req.method,
        path: targetPrefix + req.url,
        headers,
        agent,
      },
      (ur) => {
        readBody(ur).then((b) => resolve({ status: ur.statusCode, headers: ur.headers, body: b }), reject);
      }
    );
    up.on('error', reject);
    up.end(body);
  });
}
function reply(res, answer) {
  if (res.destroyed) return;
  const headers = {};
  for (const [k, v] of Object.entries(answer.headers)) if (!HOP.has(k)) headers[k] = v;
  headers['content-length'] = String(answer.body.length);
  res.writeHead(answer.status, headers);
  res.end(answer.body);
}
function resetConnection(req, res) {
  // No answer at all: the client sees ECONNRESET / "socket hang up".
  req.socket.resetAndDestroy ? req.socket.resetAndDestroy() : req.socket.destroy();
  res.destroy();
}

function entry429() {
  return {
    response: {
      status: '429 Too Many Requests',
      outcome: outcome('throttled', 'Too Many Requests (injected by proxy; entry not applied)'),
    },
  };
}

async function injectEntry429(req, res, body, bundle, rng) {
  const n = bundle.entry.length;
  let marked;
  if (opts.entryMode === 'tail') {
    const from = Math.floor(rng() * n); // like a server that stops at its first 429
    marked = bundle.entry.map((_, i) => i >= from);
  } else {
    marked = bundle.entry.map(() => rng() < opts.entryFraction);
    if (!marked.includes(true)) marked[Math.floor(rng() * n)] = true;
  }
  const count = marked.filter(Boolean).length;
  stats.entries429 += count;
  const kept = bundle.entry.filter((_, i) => !marked[i]);
  if (kept.length === 0) {
    return sendJson(res, 200, { resourceType: 'Bundle', type: 'batch-response', entry: marked.map(() => entry429()) });
  }
  const fwdBody = Buffer.from(JSON.stringify({ ...bundle, entry: kept }), 'utf8');
  stats.forwarded++;
  const answer = await forward(req, fwdBody);
  let out;
  try {
    out = answer.status === 200 ? JSON.parse(answer.body.toString('utf8')) : undefined;
  } catch {
    out = undefined;
  }
  if (out?.resourceType !== 'Bundle' || !Array.isArray(out.entry) || out.entry.length !== kept.length) {
    // Not a batch-response we can splice into: pass the server's answer through unchanged
    // (the removed entries were not applied either way).
    return reply(res, answer);
  }
  let j = 0;
  out.entry = marked.map((m) => (m ? entry429() : out.entry[j++]));
  return sendJson(res, 200, out);
}

async function handle(req, res) {
  const path = req.url.split('?')[0];
  if (path === '/proxy/stats' && req.method === 'GET') {
    req.resume();
    return sendJson(res, 200, { ...stats, rate: opts.rate, kinds: opts.kinds }, { 'Content-Type': 'application/json' });
  }
  if (path === '/proxy/config' && req.method === 'POST') {
    const b = await readBody(req);
    try {
      const c = JSON.parse(b.toString('utf8') || '{}');
      if (c.rate !== undefined) {
        if (typeof c.rate !== 'number' || !(c.rate >= 0 && c.rate <= 1)) throw new Error('rate must be a number in [0, 1]');
        opts.rate = c.rate;
      }
      if (c.kinds !== undefined) opts.kinds = parseKinds(c.kinds);
      if (c.slowMs !== undefined) {
        if (typeof c.slowMs !== 'number' || !(c.slowMs >= 0)) throw new Error('slowMs must be a number >= 0');
        opts.slowMs = c.slowMs;
      }
    } catch (e) {
      return sendJson(res, 400, outcome('invalid', e.message));
    }
    return sendJson(res, 200, { rate: opts.rate, kinds: opts.kinds, slowMs: opts.slowMs }, { 'Content-Type': 'application/json' });
  }

  const n = seq++;
  stats.requests++;
  const rng = requestRng(n);
  const body = await readBody(req);
  const exempt = path.startsWith('/admin/') || path.startsWith('/proxy/');

  let bundle;
  if (req.method === 'POST' && body.length > 0 && body[0] !== 0x5b) {
    try {
      const j = JSON.parse(body.toString('utf8'));
      if (j?.resourceType === 'Bundle' && j.type === 'batch' && Array.isArray(j.entry) && j.entry.length > 0) bundle = j;
    } catch {
      // not JSON: forwarded as is
    }
  }
  const applicable = opts.kinds.filter((k) => k !== 'entry429' || bundle);
  const roll = rng();
  const pick = rng();
  const kind = !exempt && applicable.length > 0 && roll < opts.rate ? applicable[Math.floor(pick * applicable.length)] : undefined;
  if (kind) stats.faults[kind]++;
  if (opts.log) process.stderr.write(`#${n} ${req.method} ${req.url}${kind ? ` FAULT ${kind}` : ''}\n`);

  switch (kind) {
    case '503':
      return sendJson(res, 503, outcome('transient', 'Service Unavailable (injected by proxy; not applied)'));
    case '429':
      return sendJson(res, 429, outcome('throttled', 'Too Many Requests (injected by proxy; not applied)'), { 'Retry-After': '1' });
    case 'reset-before':
      return resetConnection(req, res);
    case 'entry429':
      return injectEntry429(req, res, body, bundle, rng);
    default: {
      stats.forwarded++;
      const answer = await forward(req, body);
      if (kind === 'reset-after') return resetConnection(req, res);
      if (kind === 'slow') await sleep(opts.slowMs);
      return reply(res, answer);
    }
  }
}

const server = createServer((req, res) => {
  handle(req, res).catch((err) => {
    process.stderr.write(`${req.method} ${req.url}: ${err?.stack ?? err}\n`);
    if (!res.headersSent) sendJson(res, 502, outcome('transient', `Bad Gateway: ${err?.message ?? err}`));
    else res.destroy();
  });
});
server.requestTimeout = 0;
server.keepAliveTimeout = 30_000;
server.on('clientError', (err, socket) => socket.destroy());
server.on('error', (err) => {
  process.stderr.write(`proxy error: ${err.message}\n`);
  process.exit(1);
});
server.listen(opts.port, '127.0.0.1', () => {
  process.stdout.write(`listening http://127.0.0.1:${server.address().port}\n`);
});
process.on('uncaughtException', (err) => process.stderr.write(`uncaught: ${err?.stack ?? err}\n`));
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    process.stderr.write(`proxy faults: ${JSON.stringify(stats)}\n`);
    server.close();
    process.exit(0);
  });
}

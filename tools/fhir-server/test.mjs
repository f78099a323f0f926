#!/usr/bin/env node
// Self-test of server.mjs and proxy.mjs: starts them as child processes on free ports and checks
// the behaviour a loader relies on. Run: node tools/fhir-server/test.mjs  (exit 1 on any failure)

import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const children = [];
let passed = 0;
let failed = 0;

function check(name, ok, detail) {
  if (ok) {
    passed++;
    console.log(`ok   ${name}`);
  } else {
    failed++;
    console.log(`FAIL ${name}${detail !== undefined ? `: ${typeof detail === 'string' ? detail : JSON.stringify(detail)}` : ''}`);
  }
}

function start(script, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(here, script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`${script} did not start: ${err}`)), 30000);
    child.stderr.on('data', (d) => {
      err += d;
      if (process.env.TEST_VERBOSE) process.stderr.write(d);
    });
    child.stdout.on('data', (d) => {
      out += d;
      const m = /^listening (http:\/\/127\.0\.0\.1:\d+)\n/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1], stderr: () => err });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited ${code}: ${err}`));
    });
  });
}

const J = { 'Content-Type': 'application/fhir+json' };
async function call(url, method = 'GET', body, headers = {}) {
  const res = await fetch(url, {
    method,
    headers: { ...J, ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = text;
  }
  return { status: res.status, headers: res.headers, json };
}
const patient = (id, extra = {}) => ({ resourceType: 'Patient', id, ...extra });
const putEntry = (r) => ({ request: { method: 'PUT', url: `${r.resourceType}/${r.id}` }, resource: r });

async function main() {
  const srv = await start('server.mjs', ['--port', '0']);
  const B = `${srv.url}/fhir/R4`;
  const reset = () => call(`${srv.url}/admin/reset`, 'POST');
  const stats = async () => (await call(`${srv.url}/admin/stats`)).json.resources;

  // metadata
  let r = await call(`${B}/metadata`);
  check('metadata is a CapabilityStatement for 4.0.1', r.status === 200 && r.json.fhirVersion === '4.0.1', r.json?.fhirVersion);

  // PUT then GET
  r = await call(`${B}/Patient/p1`, 'PUT', patient('p1', { name: [{ family: 'One' }] }));
  const v1 = r.json?.meta?.versionId;
  check('PUT create answers 201 with ETag and Location', r.status === 201 && r.headers.get('etag') === `W/"${v1}"` && r.headers.get('location')?.endsWith(`/fhir/R4/Patient/p1/_history/${v1}`), { status: r.status, etag: r.headers.get('etag'), location: r.headers.get('location') });
  r = await call(`${B}/Patient/p1`);
  check('GET after PUT returns it', r.status === 200 && r.json.name?.[0]?.family === 'One' && r.headers.get('etag') === `W/"${v1}"`, r);
  r = await call(`${B}/Patient/p1`, 'PUT', patient('p1', { name: [{ family: 'One' }] }));
  const v2 = r.json?.meta?.versionId;
  check('PUT same id again answers 200 with a new version', r.status === 200 && v2 && v2 !== v1, r.status);
  r = await call(`${B}/Patient?_summary=count`);
  check('two PUTs of one id -> one Patient (_summary=count)', r.status === 200 && r.json.total === 1 && !r.json.entry, r.json);
  r = await call(`${B}/Patient/p1/_history/${v1}`);
  check('vread of the first version', r.status === 200 && r.json.meta.versionId === v1, r.status);
  r = await call(`${B}/Patient/nope`);
  check('GET absent -> 404 OperationOutcome', r.status === 404 && r.json.resourceType === 'OperationOutcome', r.status);

  // If-Match
  r = await call(`${B}/Patient/p1`, 'PUT', patient('p1'), { 'If-Match': `W/"${v1}"` });
  check('PUT If-Match on an old version -> 412', r.status === 412, r.status);
  r = await call(`${B}/Patient/p1`, 'DELETE', undefined, { 'If-Match': `W/"${v1}"` });
  check('DELETE If-Match on an old version -> 412', r.status === 412, r.status);
  r = await call(`${B}/Patient/p1`, 'PUT', patient('p1', { name: [{ family: 'Two' }] }), { 'If-Match': `W/"${v2}"` });
  const v3 = r.json?.meta?.versionId;
  check('PUT If-Match on the current version -> 200', r.status === 200 && v3, r.status);

  // transactions are atomic
  r = await call(B, 'POST', {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [putEntry(patient('tx1')), putEntry(patient('p1', { name: [{ family: 'Changed' }] })), { request: { method: 'PUT', url: 'Patient/tx2' }, resource: { resourceType: 'Observation', id: 'tx2' } }],
  });
  check('transaction with a type-mismatched entry fails (4xx)', r.status >= 400 && r.status < 500, r.status);
  r = await call(`${B}/Patient/tx1`);
  const p1 = await call(`${B}/Patient/p1`);
  check('failed transaction leaves nothing (new id absent, updated id unchanged)', r.status === 404 && p1.json.meta.versionId === v3 && p1.json.name[0].family === 'Two', { tx1: r.status, p1: p1.json?.meta });
  r = await call(B, 'POST', {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [putEntry(patient('tx3')), { ...putEntry(patient('p1')), request: { method: 'PUT', url: 'Patient/p1', ifMatch: `W/"${v1}"` } }],
  });
  check('transaction with an If-Match mismatch -> 412', r.status === 412, r.status);
  r = await call(`${B}/Patient/tx3`);
  check('... and leaves nothing', r.status === 404, r.status);
  const h0 = (await call(`${B}/Patient/p1/_history`)).json.total;
  check('... and no extra history version', h0 === 3, h0);
  r = await call(B, 'POST', { resourceType: 'Bundle', type: 'transaction', entry: [putEntry(patient('tx4')), putEntry(patient('tx5'))] });
  check('good transaction -> 200 transaction-response, both written', r.status === 200 && r.json.type === 'transaction-response' && (await call(`${B}/Patient/tx5`)).status === 200, r.status);
  r = await call(B, 'POST', { resourceType: 'Bundle', type: 'transaction', entry: Array.from({ length: 51 }, (_, i) => putEntry(patient(`big${i}`))) });
  check('transaction with 51 updates -> 400 (Medplum limit 50)', r.status === 400, r.status);

  r = await call(B, 'POST', {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [{ request: { method: 'DELETE', url: 'Patient/p1' } }, { request: { method: 'PUT', url: 'Patient/tx6' }, resource: { resourceType: 'Observation', id: 'tx6' } }],
  });
  const p1b = await call(`${B}/Patient/p1`);
  check('failed transaction with a DELETE leaves no tombstone', r.status === 400 && p1b.status === 200 && p1b.json.meta.versionId === v3 && (await call(`${B}/Patient/p1/_history`)).json.total === 3, { status: r.status, p1: p1b.status });

  // delete, tombstone, history
  r = await call(`${B}/Patient/p1`, 'DELETE', undefined, { 'If-Match': `W/"${v3}"` });
  const vDel = /W\/"(.+)"/.exec(r.headers.get('etag') ?? '')?.[1];
  check('DELETE (If-Match current) -> 200 with the tombstone ETag', r.status === 200 && vDel, { status: r.status, etag: r.headers.get('etag') });
  r = await call(`${B}/Patient/p1`);
  check('GET after DELETE -> 410 Gone', r.status === 410 && r.json.resourceType === 'OperationOutcome', r.status);
  r = await call(`${B}/Patient/p1`, 'DELETE');
  check('DELETE again -> 200, no new version', r.status === 200 && (await call(`${B}/Patient/p1/_history`)).json.total === 4, r.status);
  const ha = (await call(`${B}/Patient/p1/_history`)).json;
  const hb = (await call(`${B}/Patient/p1/_history`)).json;
  const ids = (h) => h.entry.map((e) => e.response.etag).join(',');
  check('history after delete: 4 entries, tombstone first', ha.total === 4 && ha.entry[0].request.method === 'DELETE' && !ha.entry[0].resource && ha.entry[0].response.etag === `W/"${vDel}"`, ha.entry?.[0]);
  check('history newest-first, identical on two reads', ids(ha) === ids(hb) && ids(ha) === [vDel, v3, v2, v1].map((v) => `W/"${v}"`).join(','), [ids(ha), ids(hb)]);
  r = await call(`${B}/Patient/p1/_history?_count=2&_offset=1`);
  check('history pages with _count/_offset', r.json.entry?.length === 2 && r.json.entry[0].response.etag === `W/"${v3}"`, r.json.entry?.length);
  r = await call(`${B}/Patient/p1/_history/${vDel}`);
  check('vread of the tombstone -> 410; of an older version -> 200', r.status === 410 && (await call(`${B}/Patient/p1/_history/${v2}`)).status === 200, r.status);
  r = await call(`${B}/Patient?_id=p1`);
  check('deleted resource not found by search', r.json.total === 0, r.json.total);
  r = await call(`${B}/Patient/p1`, 'PUT', patient('p1', { name: [{ family: 'Back' }] }));
  check('PUT after DELETE resurrects (201), history keeps the tombstone', r.status === 201 && (await call(`${B}/Patient/p1`)).status === 200 && (await call(`${B}/Patient/p1/_history`)).json.entry[1].request.method === 'DELETE', r.status);

  // search
  await reset();
  check('POST /admin/reset empties the store', (await stats()) === 0);
  const tagged = (id) => patient(id, { meta: { tag: [{ system: 'http://example', code: 'x' }] } });
  for (const id of ['t1', 't2', 't3']) await call(`${B}/Patient/${id}`, 'PUT', tagged(id));
  await call(`${B}/Patient/u1`, 'PUT', patient('u1', { meta: { tag: [{ system: 'http://example', code: 'y' }] } }));
  r = await call(`${B}/Patient?_tag=${encodeURIComponent('http://example|x')}`);
  check('_tag=http://example|x finds the 3 tagged', r.status === 200 && r.json.total === 3 && r.json.entry.length === 3 && r.json.entry.every((e) => e.resource.id.startsWith('t')), r.json.total);
  r = await call(`${B}/Patient?_tag=${encodeURIComponent('http://example|x')}&_summary=count`);
  check('_tag with _summary=count', r.json.total === 3 && !r.json.entry, r.json);
  r = await call(`${B}/Patient?_id=t2`);
  check('_id search', r.json.total === 1 && r.json.entry[0].resource.id === 't2', r.json.total);

  // batch of 100
  await reset();
  r = await call(B, 'POST', { resourceType: 'Bundle', type: 'batch', entry: Array.from({ length: 100 }, (_, i) => putEntry(patient(`b${i}`))) });
  check('batch of 100 PUTs -> 100 entries, all 201', r.status === 200 && r.json.type === 'batch-response' && r.json.entry.length === 100 && r.json.entry.every((e) => e.response.status === '201'), r.json?.entry?.map((e) => e.response?.status).slice(0, 3));
  check('batch-response entries carry etag', r.json.entry.every((e) => e.response.etag === `W/"${e.resource.meta.versionId}"`));
  check('/admin/stats counts 100', (await stats()) === 100);
  r = await call(`${B}/Patient?_count=30&_offset=90`);
  check('_count/_offset: last page has 10', r.json.entry?.length === 10 && r.json.total === 100, r.json.entry?.length);
  r = await call(`${B}/Patient?_count=30`);
  check('search has a next link', r.json.link?.some((l) => l.relation === 'next' && l.url.includes('_offset=30')), r.json.link);
  r = await call(`${B}/Patient`);
  check('default page size 20', r.json.entry?.length === 20 && r.json.total === 100, r.json.entry?.length);
  r = await call(B, 'POST', {
    resourceType: 'Bundle',
    type: 'batch',
    entry: [putEntry(patient('b0')), { request: { method: 'PUT', url: 'Patient/zz' }, resource: { resourceType: 'Observation', id: 'zz' } }],
  });
  check('batch with one bad entry: good one 200, bad one 400', r.json.entry[0].response.status === '200' && r.json.entry[1].response.status === '400', r.json.entry?.map((e) => e.response.status));

  // bad input
  r = await call(B, 'POST', '{not json');
  check('bad JSON -> 400 OperationOutcome', r.status === 400 && r.json.resourceType === 'OperationOutcome', r.status);
  r = await call(`${B}/Foo/1`, 'PUT', { resourceType: 'Foo', id: '1' });
  check('unknown resource type -> 400', r.status === 400, r.status);
  r = await call(`${B}/Patient/x`, 'PUT', patient('y'));
  check('PUT id mismatch -> 400', r.status === 400, r.status);

  // large body (~55 MB batch)
  {
    const text = 'x'.repeat(550_000);
    const entry = Array.from({ length: 100 }, (_, i) => putEntry(patient(`L${i}`, { text: { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml">${text}</div>` } })));
    const body = JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry });
    const t0 = Date.now();
    r = await call(B, 'POST', body);
    check(`${(body.length / 1e6).toFixed(0)} MB batch accepted (${Date.now() - t0} ms)`, r.status === 200 && r.json.entry.length === 100, r.status);
    await reset();
  }

  // bearer token
  {
    const dir = mkdtempSync(join(tmpdir(), 'fhir-server-test-'));
    writeFileSync(join(dir, 'token'), 's3cret\n');
    const auth = await start('server.mjs', ['--port', '0', '--bearer-token-file', join(dir, 'token')]);
    rmSync(dir, { recursive: true });
    r = await call(`${auth.url}/fhir/R4/Patient/a`);
    check('with --bearer-token-file: no token -> 401 OperationOutcome', r.status === 401 && r.json.resourceType === 'OperationOutcome', r.status);
    r = await call(`${auth.url}/fhir/R4/Patient/a`, 'GET', undefined, { Authorization: 'Bearer wrong' });
    check('wrong token -> 401', r.status === 401, r.status);
    r = await call(`${auth.url}/fhir/R4/Patient/a`, 'GET', undefined, { Authorization: 'Bearer s3cret' });
    check('right token -> served (404 for an absent id)', r.status === 404, r.status);
    auth.child.kill('SIGTERM');
  }

  // proxy: entry429 (rate 1)
  const px = await start('proxy.mjs', ['--target', srv.url, '--port', '0', '--rate', '1', '--seed', '42', '--kinds', 'entry429']);
  const P = `${px.url}/fhir/R4`;
  const config = (c) => call(`${px.url}/proxy/config`, 'POST', c);
  {
    await reset();
    r = await call(P, 'POST', { resourceType: 'Bundle', type: 'batch', entry: Array.from({ length: 50 }, (_, i) => putEntry(patient(`e${i}`))) });
    const statuses = r.json?.entry?.map((e) => e.response.status) ?? [];
    const marked = statuses.map((s, i) => (s === '429 Too Many Requests' ? i : -1)).filter((i) => i >= 0);
    check('proxy entry429: 50 entries back, some marked "429 Too Many Requests"', r.status === 200 && statuses.length === 50 && marked.length > 0 && marked.length < 50, statuses);
    let absent = 0;
    for (const i of marked) if ((await call(`${B}/Patient/e${i}`)).status === 404) absent++;
    check(`proxy entry429: the ${marked.length} marked entries are absent on the server`, absent === marked.length, { absent, marked: marked.length });
    check('proxy entry429: all the other entries were applied', (await stats()) === 50 - marked.length, await stats());
    r = await call(P + '/Patient/e0');
    check('proxy entry429 leaves non-batch requests alone', r.status === 200 || r.status === 404, r.status);
    r = await call(`${px.url}/proxy/stats`);
    check('/proxy/stats counts the fault', r.json.faults.entry429 === 1 && r.json.entries429 === marked.length, r.json);
  }
  // proxy: the other kinds
  {
    await reset();
    await config({ kinds: ['503'] });
    r = await call(`${P}/Patient/f1`, 'PUT', patient('f1'));
    check('proxy 503: OperationOutcome, not applied', r.status === 503 && r.json.resourceType === 'OperationOutcome' && (await call(`${B}/Patient/f1`)).status === 404, r.status);
    await config({ kinds: ['429'] });
    r = await call(`${P}/Patient/f1`, 'PUT', patient('f1'));
    check('proxy 429: Retry-After: 1, not applied', r.status === 429 && r.headers.get('retry-after') === '1' && (await call(`${B}/Patient/f1`)).status === 404, r.status);
    await config({ kinds: ['reset-before'] });
    let err;
    try {
      await call(`${P}/Patient/f1`, 'PUT', patient('f1'));
    } catch (e) {
      err = e;
    }
    check('proxy reset-before: connection error, not applied', err && (await call(`${B}/Patient/f1`)).status === 404, err?.cause?.code ?? String(err));
    await config({ kinds: ['reset-after'] });
    err = undefined;
    try {
      await call(`${P}/Patient/f2`, 'PUT', patient('f2'));
    } catch (e) {
      err = e;
    }
    check('proxy reset-after: connection error, but applied', err && (await call(`${B}/Patient/f2`)).status === 200, err?.cause?.code ?? String(err));
    await config({ kinds: ['slow'], slowMs: 300 });
    const t0 = Date.now();
    r = await call(`${P}/Patient/f2`);
    check('proxy slow: answered after the delay', r.status === 200 && Date.now() - t0 >= 290, Date.now() - t0);
    await config({ rate: 0 });
    r = await call(`${P}/Patient/f2`);
    check('proxy at rate 0 forwards; Location/links point at the proxy', r.status === 200 && (await call(`${P}/Patient/f3`, 'PUT', patient('f3'))).headers.get('location')?.startsWith(px.url), r.status);
  }
  // proxy determinism
  {
    const run = async () => {
      const p = await start('proxy.mjs', ['--target', srv.url, '--port', '0', '--rate', '0.5', '--seed', '7', '--kinds', '503,429,slow', '--slow-ms', '1']);
      const seq = [];
      for (let i = 0; i < 30; i++) seq.push((await call(`${p.url}/fhir/R4/Patient/f2`)).status);
      const s = (await call(`${p.url}/proxy/stats`)).json.faults;
      p.child.kill('SIGTERM');
      return { seq: seq.join(','), s };
    };
    const a = await run();
    const b = await run();
    check('proxy with the same --seed injects the same faults', a.seq === b.seq && a.s.slow + a.s['503'] + a.s['429'] > 0, [a, b]);
  }

  px.child.kill('SIGTERM');
  srv.child.kill('SIGTERM');
}

try {
  await main();
} catch (e) {
  failed++;
  console.log(`FAIL unexpected error: ${e?.stack ?? e}`);
} finally {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
}
console.log(`fhir-server tests: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);

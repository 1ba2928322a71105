// Reads the checks.json the conformance suite saved for each client scenario under a
// results directory (`conformance client -o DIR`) and prints one line per scenario:
//
//   <scenario> <pass|fail|missing> <successes> <failures> <warnings> <first problem>
//
// A scenario passes only with at least one SUCCESS check and no FAILURE or WARNING (the
// suite's own rule, plus "at least one SUCCESS" so a client that did nothing cannot pass a
// scenario whose checks are only recorded when it acts).
//
// usage: node verdict.mjs RESULTS_DIR SCENARIO...
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const [dir, ...scenarios] = process.argv.slice(2);

for (const scenario of scenarios) {
  // The suite writes DIR/<scenario>-<timestamp>/checks.json ("auth/x" nests a folder).
  const parent = path.join(dir, path.dirname(scenario));
  const prefix = `${path.basename(scenario)}-`;
  let runs = [];
  try {
    runs = readdirSync(parent)
      .filter((d) => d.startsWith(prefix) && /^\d{4}-\d\d-\d\dT/.test(d.slice(prefix.length)))
      .map((d) => path.join(parent, d, 'checks.json'))
      .filter((f) => {
        try { return statSync(f).isFile(); } catch { return false; }
      })
      .sort();
  } catch {}
  if (runs.length === 0) {
    console.log(`${scenario} missing 0 0 0 no checks.json`);
    continue;
  }
  const checks = JSON.parse(readFileSync(runs[runs.length - 1], 'utf8'));
  const count = (s) => checks.filter((c) => c.status === s).length;
  const [ok, bad, warn] = [count('SUCCESS'), count('FAILURE'), count('WARNING')];
  const problem = checks.find((c) => c.status === 'FAILURE' || c.status === 'WARNING');
  const why = problem
    ? `${problem.id}: ${problem.errorMessage ?? problem.details?.message ?? problem.description}`
    : ok === 0 ? 'no SUCCESS check recorded' : '';
  const verdict = ok > 0 && bad === 0 && warn === 0 ? 'pass' : 'fail';
  console.log(`${scenario} ${verdict} ${ok} ${bad} ${warn} ${why.replace(/\s+/g, ' ')}`);
}

// `npx` start cost of wazion-mcp against mcp-remote, through the same local registry (issue 17
// item 2), run by ci/package/bench.sh, which starts verdaccio and the demo server. Not a test:
// it prints figures (docs/benchmarks.md, "npm channel: npx cold and warm").
//
// Per run: a counting HTTP proxy in front of verdaccio (registry requests, bytes served),
// `npx -y PKG@VERSION ARGS...` spawned with that registry and a throw-away npm cache (emptied
// for a cold run, kept for a warm one), an `initialize` written at once, the time to its
// answer on stdout, then `tools/list` answered, then the RSS of the whole process tree (npx,
// any shell, node, the bridge) as the largest of 5 samples 100 ms apart, then stdin closed
// and the tree waited for. Medians over RUNS runs, cold and warm alternating per package.
//
// Environment: REGISTRY (verdaccio), DEMO_URL (token demo-token), SCRATCH, WAZION_VERSION,
// RUNS (default 5), BIN (the bridge itself) and LAUNCHER (installed with npm install), for
// the rows without npx.
import { spawn } from 'node:child_process';
import { createServer, request } from 'node:http';
import { readFileSync, readdirSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const { REGISTRY, DEMO_URL, SCRATCH, WAZION_VERSION, BIN, LAUNCHER } = process.env;
const RUNS = Number(process.env.RUNS || 5);
const upstream = new URL(REGISTRY);

// ---- counting proxy: every request to the registry and the bytes it sent back
const counts = { requests: 0, bytes: 0, log: [] };
const proxy = createServer((req, res) => {
  counts.requests += 1;
  const up = request(
    { host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers },
    (r) => {
      counts.log.push(`${r.statusCode} ${req.method} ${req.url}`);
      res.writeHead(r.statusCode, r.headers);
      r.on('data', (d) => { counts.bytes += d.length; });
      r.pipe(res);
    },
  );
  up.on('error', () => res.destroy());
  req.pipe(up);
});
await new Promise((r) => proxy.listen(0, '127.0.0.1', r));
const registry = `http://127.0.0.1:${proxy.address().port}/`;

// ---- the process tree's RSS (Linux /proc)
function children(pid) {
  const out = [];
  let tasks = [];
  try { tasks = readdirSync(`/proc/${pid}/task`); } catch { return out; }
  for (const t of tasks) {
    try {
      out.push(...readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').split(/\s+/).filter(Boolean).map(Number));
    } catch { /* gone */ }
  }
  return out;
}
function treeRss(root) {
  let kib = 0;
  const seen = [];
  const stack = [root];
  while (stack.length) {
    const pid = stack.pop();
    try {
      const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m);
      if (m) kib += Number(m[1]);
      seen.push(pid);
    } catch { continue; }
    stack.push(...children(pid));
  }
  return { mib: kib / 1024, processes: seen.length };
}

// CPU time (user + system, seconds) the tree has used: each live process's own and that of
// its children it has already waited for (npx's short-lived helpers). Load on the machine
// stretches wall-clock times; this moves far less.
const CLK_TCK = Number(process.env.CLK_TCK || 100);
function treeCpu(root) {
  let ticks = 0;
  const stack = [root];
  while (stack.length) {
    const pid = stack.pop();
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]); // utime stime cutime cstime
    } catch { continue; }
    stack.push(...children(pid));
  }
  return ticks / CLK_TCK;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// One launch: resolves to {ms, requests, bytes, rssMib, processes}.
function launch(command, args, cache, env) {
  return new Promise((resolve, reject) => {
    const before = { requests: counts.requests, bytes: counts.bytes, log: counts.log.length };
    const t0 = process.hrtime.bigint();
    const child = spawn(command, args, {
      cwd: SCRATCH,
      env: {
        ...process.env,
        ...env,
        HOME: join(SCRATCH, 'home'),
        npm_config_cache: cache,
        npm_config_registry: registry,
        npm_config_userconfig: join(SCRATCH, 'home', '.npmrc'),
        npm_config_update_notifier: 'false',
        npm_config_fund: 'false',
        npm_config_audit: 'false',
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    let buf = '';
    let ms;
    let cpu;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', async (chunk) => {
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const msg = JSON.parse(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        if (msg.id === 1) {
          ms = Number(process.hrtime.bigint() - t0) / 1e6;
          cpu = treeCpu(child.pid);
          child.stdin.write('{"jsonrpc":"2.0","method":"notifications/initialized"}\n');
          child.stdin.write('{"jsonrpc":"2.0","id":2,"method":"tools/list"}\n');
        } else if (msg.id === 2) {
          let rss = { mib: 0, processes: 0 };
          for (let i = 0; i < 5; i += 1) {
            const r = treeRss(child.pid);
            if (r.mib > rss.mib) rss = r;
            await sleep(100);
          }
          child.stdin.end();
          // Bounded: a launch that does not end on EOF within 10 s is stopped.
          const stop = setTimeout(() => child.kill('SIGKILL'), 10000);
          child.on('close', () => clearTimeout(stop));
          child.on('close', () => resolve({
            ms, cpu, requests: counts.requests - before.requests, bytes: counts.bytes - before.bytes,
            rssMib: rss.mib, processes: rss.processes, log: counts.log.slice(before.log),
          }));
        }
      }
    });
    child.on('error', reject);
    child.on('exit', (code) => { if (ms === undefined) reject(new Error(`exited ${code} before answering: ${stderr}`)); });
    child.stdin.write(`${JSON.stringify({
      jsonrpc: '2.0', id: 1, method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'npx-bench', version: '1' } },
    })}\n`);
  });
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

const subjects = [
  { name: `npx -y wazion-mcp@${WAZION_VERSION}`, command: 'npx', args: ['-y', `wazion-mcp@${WAZION_VERSION}`, DEMO_URL], env: { WAZION_TOKEN: 'demo-token' } },
  { name: 'npx -y mcp-remote@0.15.1', command: 'npx', args: ['-y', 'mcp-remote@0.15.1', DEMO_URL, '--header', 'Authorization:Bearer demo-token'], env: {} },
];
mkdirSync(join(SCRATCH, 'home'), { recursive: true });
writeFileSync(join(SCRATCH, 'home', '.npmrc'), '');

const rows = [];
if (BIN) {
  const direct = [];
  for (let i = 0; i < RUNS; i += 1) direct.push(await launch(BIN, [DEMO_URL], join(SCRATCH, 'unused-cache'), { WAZION_TOKEN: 'demo-token' }));
  rows.push({ name: 'wazion-mcp binary, no npx', mode: '-', runs: direct });
}
if (LAUNCHER) {
  const installed = [];
  for (let i = 0; i < RUNS; i += 1) installed.push(await launch(LAUNCHER, [DEMO_URL], join(SCRATCH, 'unused-cache'), { WAZION_TOKEN: 'demo-token' }));
  rows.push({ name: 'wazion-mcp launcher installed (npm install), no npx', mode: '-', runs: installed });
}
for (const s of subjects) {
  const cold = [];
  const warm = [];
  const cache = join(SCRATCH, 'cache');
  for (let i = 0; i < RUNS; i += 1) {
    rmSync(cache, { recursive: true, force: true });
    cold.push(await launch(s.command, s.args, cache, s.env));
    warm.push(await launch(s.command, s.args, cache, s.env));
  }
  rows.push({ name: s.name, mode: 'cold', runs: cold }, { name: s.name, mode: 'warm', runs: warm });
}

console.log(`| launch | cache | to initialize answer (median of ${RUNS}) | range | CPU time of the tree by then | registry requests | bytes downloaded | RSS of the process tree | processes |`);
console.log('|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  const ms = r.runs.map((x) => x.ms);
  console.log(`| ${r.name} | ${r.mode} | ${(median(ms) / 1000).toFixed(2)} s | ${(Math.min(...ms) / 1000).toFixed(2)}–${(Math.max(...ms) / 1000).toFixed(2)} s | ${median(r.runs.map((x) => x.cpu)).toFixed(2)} s | ${median(r.runs.map((x) => x.requests))} | ${(median(r.runs.map((x) => x.bytes)) / 1048576).toFixed(2)} MiB | ${median(r.runs.map((x) => x.rssMib)).toFixed(0)} MiB | ${median(r.runs.map((x) => x.processes))} |`);
}
console.log(`\nregistry requests of the first cold \`${subjects[0].name}\`:`);
for (const line of rows.find((r) => r.mode === 'cold').runs[0].log) console.log(`    ${line}`);
writeFileSync(join(SCRATCH, 'npx-bench.json'), JSON.stringify(rows, null, 1));
proxy.close();
process.exit(0);

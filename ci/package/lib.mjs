// Helpers shared by ci/package/npm-test.mjs and mcpb-test.mjs: a raw JSON-lines driver of a
// bridge process (exact messages, exact end), the demo server's DELETE count, a bounded wait.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

// What WAzion (and the demo server) answers a request without a valid token.
export const WAZION_401 =
  'Unauthorized: invalid or missing Bearer token. Get your token at https://www.wazion.com/dashboard → Settings.';

// A child's environment: this process's, without the variables the tests set per case.
function envWith(extra) {
  const env = { ...process.env };
  delete env.WAZION_TOKEN;
  delete env.WAZION_MCP_BINARY;
  return { ...env, ...extra };
}

// Runs `command args` with `input` on stdin; resolves to its whole output and how it ended.
export function run(command, args, extra, input) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: envWith(extra), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    // A child may end before it reads its input (a launcher that only explains a missing
    // package): EPIPE on its stdin is then no error of the test, which judges the output.
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}

// A bridge driven by raw JSON lines: request() writes one and resolves to the answer with its
// id (notifications in between are kept in `others`); `exited` resolves to {code, signal}
// once the process has ended and its output has been read.
export class RawBridge {
  constructor(command, args, extra) {
    this.child = spawn(command, args, { env: envWith(extra), stdio: ['pipe', 'pipe', 'pipe'] });
    // A bridge that ended (what some tests wait for) closes its stdin: a late write's EPIPE is
    // judged by the test through `exited`, not thrown from an event.
    this.child.stdin.on('error', () => {});
    this.stderr = '';
    this.others = [];
    this.waiting = new Map();
    this.nextId = 1;
    let buf = '';
    this.child.stdout.setEncoding('utf8');
    this.child.stdout.on('data', (chunk) => {
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim() === '') continue;
        const msg = JSON.parse(line);
        const w = msg.id !== undefined && 'method' in msg === false ? this.waiting.get(msg.id) : undefined;
        if (w) {
          this.waiting.delete(msg.id);
          w(msg);
        } else {
          this.others.push(msg);
        }
      }
    });
    this.child.stderr.on('data', (d) => { this.stderr += d; });
    this.child.on('error', (err) => {
      for (const w of this.waiting.values()) w({ spawnError: String(err) });
      this.waiting.clear();
    });
    this.exited = new Promise((resolve) => {
      // 'close': the process has ended and its stdout and stderr are read to the end.
      this.child.on('close', (code, signal) => {
        for (const w of this.waiting.values()) w({ bridgeExited: { code, signal }, stderr: this.stderr });
        resolve({ code, signal });
      });
    });
  }

  send(msg) {
    this.child.stdin.write(`${JSON.stringify(msg)}\n`);
  }

  request(method, params, id = this.nextId++) {
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.send({ jsonrpc: '2.0', id, method, params });
    });
  }

  async handshake() {
    const answer = await this.request('initialize', {
      protocolVersion: '2025-06-18',
      capabilities: {},
      clientInfo: { name: 'raw-driver', version: '1.0.0' },
    });
    if (!answer.result) throw new Error(`initialize failed: ${JSON.stringify(answer)}`);
    this.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    return answer;
  }
}

// How many DELETE requests the demo server (--log-requests) has logged so far.
export function deletesSeen(log) {
  return readFileSync(log, 'utf8').split('\n').filter((l) => l.startsWith('DELETE ')).length;
}

// Waits for `cond` to hold: the server logs a request a moment after answering it. Bounded:
// fails after 10 s (the event normally comes within milliseconds).
export async function waitFor(cond, what) {
  for (let i = 0; i < 200; i += 1) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

// Runs `tests` ([{name, fn}]) one by one, each bounded (60 s), printing `PASS  label: name` or
// `FAIL  label: name` and then `label: N passed, N failed`; exits 0 only if none failed.
// TEST_FILTER=text runs only the tests whose name contains it.
export async function runTests(label, tests) {
  let passed = 0;
  let failed = 0;
  const bounded = (fn) => {
    let timer;
    const limit = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('timed out after 60 s')), 60000); });
    return Promise.race([Promise.resolve().then(fn), limit]).finally(() => clearTimeout(timer));
  };
  for (const { name, fn } of tests) {
    if (process.env.TEST_FILTER && !name.includes(process.env.TEST_FILTER)) continue;
    try {
      await bounded(fn);
      passed += 1;
      console.log(`PASS  ${label}: ${name}`);
    } catch (err) {
      failed += 1;
      console.log(`FAIL  ${label}: ${name}\n    ${String(err.stack || err).split('\n').join('\n    ')}`);
    }
  }
  console.log(`${label}: ${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}

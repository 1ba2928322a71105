// Issue 19 §1 and §6 against the official SDKs' newest servers: a 2025-era SDK client
// (@modelcontextprotocol/sdk 1.32.2) directly and through the bridge, against
//   - ts-dual:   one TypeScript SDK v2 server definition served by createMcpHandler (both eras),
//   - ts-modern: the same definition with { legacy: 'reject' } (2026-07-28 only),
//   - py-dual:   the Python SDK 2.x (PyPI `mcp`) server of py_eras_server.py (both eras),
// each behind a recording HTTP proxy that notes the JSON-RPC method of every POST.
//
// Checks (each printed PASS or FAIL; last line "sdk-eras: N passed, M failed"):
//   dual-era servers: the bridged `initialize` answer equals the direct one byte for byte
//     modulo whitespace; the first request the server sees from the bridge is `initialize`;
//     the SDK client's whole transcript (initialize result, tools, a call with five log
//     messages, progress and a tool-list change) is the same directly and bridged;
//   the 2026-only build: the SDK client through the bridge sees the transcript it sees
//     directly against the dual-era build of the same definition (results in the 2025 shape,
//     log messages flowing), with and without a `logging/setLevel` first; the first start
//     sends one `initialize` (refused), a second start none; an `initialize` for 1999-01-01
//     is answered with a version both sides support.
//
// On the old main (a server/discover probe before the client's initialize, translating any
// server whose discover listed only 2026 versions) 11 of these 12 checks failed; only "a
// second start sends no initialize" passed.
//
// Usage: node sdk_eras.mjs BRIDGE_BINARY [PYTHON_WITH_MCP]. Without a Python, the py-dual
// checks are reported as FAIL (CI always gives one; see run.sh).
import http from 'node:http';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

import { McpServer, createMcpHandler } from '@modelcontextprotocol/server';
import * as z from 'zod';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import {
  LoggingMessageNotificationSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const [BRIDGE, PYTHON] = process.argv.slice(2);
const DEADLINE_MS = 20000;
let passed = 0;
let failed = 0;

function check(name, ok, detail) {
  if (ok) {
    passed++;
    console.log(`PASS  ${name}`);
  } else {
    failed++;
    console.log(`FAIL  ${name}${detail ? `\n      ${String(detail).replace(/\n/g, '\n      ')}` : ''}`);
  }
}

/** JSON text with insignificant whitespace removed (strings untouched). */
function compact(text) {
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      out += c;
      if (c === '\\') out += text[++i];
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
      out += c;
    } else if (!' \t\r\n'.includes(c)) {
      out += c;
    }
  }
  return out;
}

function withDeadline(promise, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${DEADLINE_MS} ms`)), DEADLINE_MS);
    }),
  ]).finally(() => clearTimeout(timer));
}

// ------------------------------------------------------------------ the TypeScript server

/** One server definition for both builds. */
function factory() {
  const server = new McpServer(
    { name: 'eras-typescript', version: '1.0.0' },
    { capabilities: { logging: {} }, instructions: 'One server definition, both eras.' },
  );
  server.registerTool(
    'echo',
    { description: 'Returns its argument.', inputSchema: z.object({ text: z.string() }) },
    async ({ text }) => ({ content: [{ type: 'text', text }] }),
  );
  server.registerTool(
    'work',
    {
      description: 'Logs five messages, reports progress twice, and announces a changed tool list.',
      inputSchema: z.object({}),
    },
    async (_args, ctx) => {
      for (let i = 0; i < 5; i++) await ctx.mcpReq.log('info', `step ${i}`);
      const progressToken = ctx.mcpReq._meta?.progressToken;
      if (progressToken !== undefined) {
        for (const progress of [1, 2]) {
          await ctx.mcpReq.notify({
            method: 'notifications/progress',
            params: { progressToken, progress, total: 2 },
          });
        }
      }
      await ctx.mcpReq.notify({ method: 'notifications/tools/list_changed' });
      return { content: [{ type: 'text', text: 'done' }] };
    },
  );
  return server;
}

/** Serves a fetch-style handler on node:http (127.0.0.1, a free port). */
async function serveFetch(handler) {
  const server = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = Buffer.concat(chunks);
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) {
      if (typeof v === 'string') headers.set(k, v);
    }
    const request = new Request(`http://${req.headers.host}${req.url}`, {
      method: req.method,
      headers,
      body: ['GET', 'HEAD', 'DELETE'].includes(req.method) ? undefined : body,
    });
    let response;
    try {
      response = await handler.fetch(request);
    } catch (e) {
      res.writeHead(500).end(String(e));
      return;
    }
    res.writeHead(response.status, Object.fromEntries(response.headers));
    if (!response.body) return res.end();
    const reader = response.body.getReader();
    res.on('close', () => reader.cancel().catch(() => {}));
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        res.write(value);
      }
    } catch {}
    res.end();
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return server;
}

// ------------------------------------------------------------------ the recording proxy

/** A proxy in front of `target` (host:port) noting each POST's JSON-RPC method. */
async function recordingProxy(targetPort) {
  const methods = [];
  const server = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = Buffer.concat(chunks);
    if (req.method === 'POST') {
      try {
        const m = JSON.parse(body.toString('utf8'));
        methods.push(Array.isArray(m) ? 'batch' : m.method ?? 'response');
      } catch {
        methods.push('unparsable');
      }
    }
    const upstream = http.request(
      { host: '127.0.0.1', port: targetPort, path: req.url, method: req.method, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => res.writeHead(502).end());
    res.on('close', () => upstream.destroy());
    upstream.end(body);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { server, methods, url: `http://127.0.0.1:${server.address().port}/mcp` };
}

// ------------------------------------------------------------------ clients

const INIT = JSON.stringify({
  jsonrpc: '2.0',
  id: 0,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'sdk-eras', version: '1' } },
});

/** The raw answer to INIT posted directly (JSON body or the first SSE `data:`). */
async function directInitialize(url, line = INIT) {
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: line,
  });
  const text = await r.text();
  const session = r.headers.get('mcp-session-id');
  if (session) {
    await fetch(url, { method: 'DELETE', headers: { 'mcp-session-id': session } }).catch(() => {});
  }
  if ((r.headers.get('content-type') ?? '').includes('text/event-stream')) {
    const data = text
      .split('\n')
      .filter((l) => l.startsWith('data:'))
      .map((l) => l.slice(5).trim())
      .find((d) => d.includes('"id"'));
    return data ?? text;
  }
  return text;
}

/** Starts the bridge for `url` with the era cache in `cache`. */
function bridgeProcess(url, cache) {
  return spawn(BRIDGE, [url], {
    env: { ...process.env, WAZION_MCP_CACHE_DIR: cache, RUST_LOG: 'info' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** The raw line the bridge writes for INIT (its first stdout line). */
async function bridgedInitialize(url, cache, line = INIT) {
  const child = bridgeProcess(url, cache);
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const lines = createInterface({ input: child.stdout });
  const first = new Promise((resolve) => lines.once('line', resolve));
  child.stdin.write(`${line}\n`);
  try {
    return await withDeadline(first, 'the bridged initialize');
  } finally {
    child.stdin.end();
    await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
  }
}

/** What a 2025 SDK client sees in one session: a transcript for comparison. */
async function transcript(transport, { setLevel: level = 'debug' } = {}) {
  const client = new Client({ name: 'sdk-eras', version: '1' }, { capabilities: {} });
  const logs = [];
  let listChanged = 0;
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => logs.push(n.params.data));
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => listChanged++);
  await withDeadline(client.connect(transport), 'connect');
  // (The negotiated version is compared in the raw initialize checks.)
  const init = {
    serverInfo: client.getServerVersion(),
    capabilities: client.getServerCapabilities(),
    instructions: client.getInstructions(),
  };
  const setLevel =
    level === undefined
      ? 'not sent'
      : await withDeadline(client.setLoggingLevel(level), 'logging/setLevel').then(
          () => 'ok',
          (e) => String(e),
        );
  const tools = await withDeadline(client.listTools(), 'tools/list');
  const echo = await withDeadline(client.callTool({ name: 'echo', arguments: { text: 'hi' } }), 'echo');
  // Progress is counted as the client's transport receives it: the SDK 1.x client runs
  // notification handlers a microtask late, so a progress notification read in the same chunk
  // as its request's answer never reaches `onprogress` (over stdio, from any server).
  const progress = [];
  const deliver = transport.onmessage;
  transport.onmessage = (m, extra) => {
    if (m.method === 'notifications/progress') progress.push(m.params.progress);
    deliver?.(m, extra);
  };
  const work = await withDeadline(
    client.callTool({ name: 'work', arguments: {} }, undefined, { onprogress: () => {} }),
    'work',
  );
  // A list change sent on another stream may trail the answer: wait for it, bounded.
  for (let i = 0; i < 100 && listChanged === 0; i++) await new Promise((r) => setTimeout(r, 20));
  await client.close();
  return { init, setLevel, tools, echo, work, logs, progress, listChanged };
}

const direct = (url, options) => transcript(new StreamableHTTPClientTransport(new URL(url)), options);
const bridged = (url, cache, options) =>
  transcript(
    new StdioClientTransport({
      command: BRIDGE,
      args: [url],
      env: { ...process.env, WAZION_MCP_CACHE_DIR: cache },
      stderr: 'pipe',
    }),
    options,
  );

const freshCache = () => mkdtempSync(join(tmpdir(), 'sdk-eras-cache-'));
const show = (v) => JSON.stringify(v);

async function attempt(name, f) {
  try {
    await f();
  } catch (e) {
    check(name, false, e?.stack ?? e);
  }
}

// ------------------------------------------------------------------ the checks

async function dualEra(label, url, proxy) {
  await attempt(`${label}: bridged initialize equals the direct one`, async () => {
    const d = compact(await directInitialize(url));
    proxy.methods.length = 0;
    const b = compact(await bridgedInitialize(url, freshCache()));
    check(`${label}: bridged initialize equals the direct one`, d === b, `direct:  ${d}\nbridged: ${b}`);
    check(
      `${label}: the first request the server sees from the bridge is initialize`,
      proxy.methods[0] === 'initialize' && !proxy.methods.includes('server/discover'),
      show(proxy.methods),
    );
  });
  await attempt(`${label}: the SDK client's transcript is the same direct and bridged`, async () => {
    const d = await direct(url);
    const b = await bridged(url, freshCache());
    check(
      `${label}: the SDK client's transcript is the same direct and bridged`,
      show(d) === show(b),
      `direct:  ${show(d)}\nbridged: ${show(b)}`,
    );
    check(
      `${label}: log messages, progress and the list change arrive through the bridge`,
      b.logs.length === 5 && b.progress.length === 2 && b.listChanged >= 1,
      show({ logs: b.logs, progress: b.progress, listChanged: b.listChanged }),
    );
  });
}

async function modernOnly(label, url, proxy, dualUrl) {
  await attempt(`${label}: the SDK client sees what it sees directly from the dual-era build`, async () => {
    const want = await direct(dualUrl);
    const cache = freshCache();
    proxy.methods.length = 0;
    const got = await bridged(url, cache);
    check(
      `${label}: the SDK client sees what it sees directly from the dual-era build`,
      show(want) === show(got),
      `dual-era direct: ${show(want)}\n2026-only bridged: ${show(got)}`,
    );
    check(
      `${label}: the first start sends one initialize (refused), then translates`,
      proxy.methods.filter((m) => m === 'initialize').length === 1 && proxy.methods[0] === 'initialize',
      show(proxy.methods),
    );
    proxy.methods.length = 0;
    await bridged(url, cache);
    check(
      `${label}: a second start sends no initialize`,
      !proxy.methods.includes('initialize') && proxy.methods[0] === 'server/discover',
      show(proxy.methods),
    );
  });
  await attempt(`${label}: without logging/setLevel too, what the dual-era build shows directly`, async () => {
    const want = await direct(dualUrl, { setLevel: undefined });
    const got = await bridged(url, freshCache(), { setLevel: undefined });
    check(
      `${label}: without logging/setLevel too, what the dual-era build shows directly`,
      show(want) === show(got),
      `dual-era direct: ${show(want)}\n2026-only bridged: ${show(got)}`,
    );
  });
  await attempt(`${label}: an initialize for 1999-01-01 gets a supported version`, async () => {
    const line = INIT.replace('2025-06-18', '1999-01-01');
    const answer = JSON.parse(await bridgedInitialize(url, freshCache(), line));
    check(
      `${label}: an initialize for 1999-01-01 gets a supported version`,
      ['2025-03-26', '2025-06-18', '2025-11-25'].includes(answer.result?.protocolVersion),
      show(answer),
    );
  });
}

async function startPython(port) {
  const child = spawn(PYTHON, [join(HERE, 'py_eras_server.py'), String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d) => (log += d));
  const url = `http://127.0.0.1:${port}/mcp`;
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`the Python server exited:\n${log}`);
    const up = await fetch(url, { method: 'GET' }).then(
      () => true,
      () => false,
    );
    if (up) return child;
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill();
  throw new Error(`the Python server did not start:\n${log}`);
}

async function freePort() {
  const s = http.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

const dualHandler = createMcpHandler(factory);
const modernHandler = createMcpHandler(factory, { legacy: 'reject' });
const tsDual = await serveFetch(dualHandler);
const tsModern = await serveFetch(modernHandler);
const dualProxy = await recordingProxy(tsDual.address().port);
const modernProxy = await recordingProxy(tsModern.address().port);

await dualEra('ts-dual', dualProxy.url, dualProxy);
await modernOnly('ts-modern', modernProxy.url, modernProxy, dualProxy.url);

let python;
if (PYTHON) {
  await attempt('py-dual: the Python SDK server starts', async () => {
    const port = await freePort();
    python = await startPython(port);
    const pyProxy = await recordingProxy(port);
    await dualEra('py-dual', pyProxy.url, pyProxy);
    pyProxy.server.close();
  });
} else {
  check('py-dual: a Python with `mcp` installed was given', false, 'usage: node sdk_eras.mjs BRIDGE PYTHON');
}

python?.kill();
for (const s of [tsDual, tsModern, dualProxy.server, modernProxy.server]) s.close();
await Promise.all([dualHandler.close(), modernHandler.close()]);
console.log(`sdk-eras: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);

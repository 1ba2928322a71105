#!/usr/bin/env node
// A 2026-07-28 MCP client on the bridge's stdio, for the conformance suite's 2026-07-28
// CLIENT scenarios (ci/conformance-next/run.sh).
//
// The suite starts a test server and runs `<command> <server-url>` with
// MCP_CONFORMANCE_SCENARIO, MCP_CONFORMANCE_PROTOCOL_VERSION and (for some scenarios)
// MCP_CONFORMANCE_CONTEXT set. This driver starts
//     wazion-mcp <server-url> --log-level debug
// and writes raw newline-delimited JSON-RPC to its stdin, the way a 2026-07-28 desktop client
// would: no `initialize`; every request carries params._meta with
// io.modelcontextprotocol/protocolVersion, clientCapabilities and clientInfo. Nothing else
// is done for the bridge: the HTTP headers the suite checks (MCP-Protocol-Version, Mcp-Method,
// Mcp-Name, Mcp-Param-*) and the removal of tools with invalid x-mcp-header annotations are
// all the bridge's work. The TypeScript SDK (1.32.2) is not used because it speaks 2025-era
// MCP only, and these scenarios' servers answer `initialize` with protocolVersion 2026-07-28
// (which the SDK rejects) instead of refusing it with -32022 (which would make the bridge
// translate).
//
// What it does, in order: server/discover (retrying once with a version from
// error.data.supported if refused with -32022), tools/list and a tools/call of every listed
// tool (arguments from MCP_CONFORMANCE_CONTEXT's toolCalls when given, else made up from the
// input schema), then resources/list + resources/read and prompts/list + prompts/get when the
// server advertises them. An `input_required` result (MRTR) is answered by the driver itself
// and the request retried, as a 2026 client does (the bridge only relays both legs). Two
// scenarios ask for something specific: json-schema-2020-12-preservation (echo the focal
// tool's inputSchema through json_schema_echo) and json-schema-ref-no-deref (list only).
// Then it closes the bridge's stdin and checks that the bridge exits promptly.
//
// The bridge binary is $WAZION_MCP_BIN (default: target/debug/wazion-mcp of this repo). The
// bridge's stderr is passed through, so the suite saves it with the scenario's results.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const url = process.argv[2];
const scenario = process.env.MCP_CONFORMANCE_SCENARIO ?? '(none)';
if (!url) {
  console.error('usage: driver2026.mjs <server-url>   (the conformance suite appends the URL)');
  process.exit(2);
}
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const bridgeBin = process.env.WAZION_MCP_BIN ?? path.join(repo, 'target', 'debug', 'wazion-mcp');
const log = (...a) => console.error(`[driver2026 ${scenario}]`, ...a);
const context = process.env.MCP_CONFORMANCE_CONTEXT ? JSON.parse(process.env.MCP_CONFORMANCE_CONTEXT) : {};
const SUPPORTED = ['2026-07-28'];
let version = process.env.MCP_CONFORMANCE_PROTOCOL_VERSION ?? '2026-07-28';
if (!SUPPORTED.includes(version)) version = '2026-07-28';

const capabilities = { roots: {}, sampling: {}, elicitation: {} };
const clientInfo = { name: 'wazion-mcp-conformance-driver2026', version: '1.0.0' };
const meta = () => ({
  'io.modelcontextprotocol/protocolVersion': version,
  'io.modelcontextprotocol/clientCapabilities': capabilities,
  'io.modelcontextprotocol/clientInfo': clientInfo,
});

const bridge = spawn(bridgeBin, [url, '--log-level', process.env.WAZION_MCP_LOG_LEVEL ?? 'debug'], {
  stdio: ['pipe', 'pipe', 'inherit'],
});
const exited = new Promise((resolve) => bridge.on('exit', (code, signal) => resolve({ code, signal })));

const DEADLINE_MS = Number(process.env.WAZION_DRIVER_DEADLINE_MS ?? 25000);
setTimeout(() => {
  log(`no result after ${DEADLINE_MS} ms: killing the bridge (pid ${bridge.pid})`);
  try { bridge.kill('SIGKILL'); } catch {}
  process.exit(1);
}, DEADLINE_MS).unref();

const pending = new Map();
let nextId = 1;
createInterface({ input: bridge.stdout }).on('line', (line) => {
  if (!line.trim()) return;
  let msg;
  try { msg = JSON.parse(line); } catch { log('not JSON on stdout:', line); failed = true; return; }
  if (msg.id !== undefined && msg.method === undefined && pending.has(msg.id)) {
    const done = pending.get(msg.id);
    pending.delete(msg.id);
    done(msg);
  } else if (msg.method !== undefined && msg.id !== undefined) {
    // 2026-07-28 has no server->client requests on this path; answer so nothing hangs.
    log(`unexpected server->client request ${msg.method}`);
    bridge.stdin.write(JSON.stringify({ jsonrpc: '2.0', id: msg.id, error: { code: -32601, message: 'not supported' } }) + '\n');
  } else {
    log(`notification ${msg.method ?? JSON.stringify(msg)}`);
  }
});

function send(method, params = {}) {
  const id = nextId++;
  const msg = { jsonrpc: '2.0', id, method, params: { ...params, _meta: { ...(params._meta ?? {}), ...meta() } } };
  return new Promise((resolve) => {
    pending.set(id, resolve);
    bridge.stdin.write(JSON.stringify(msg) + '\n');
  });
}

// What a headless user answers to an input request of an `input_required` result (MRTR).
function answerInputRequest({ method, params }) {
  if (method === 'elicitation/create') return { action: 'accept', content: madeUpArgs(params?.requestedSchema) };
  if (method === 'sampling/createMessage') {
    return { role: 'assistant', content: { type: 'text', text: 'ok' }, model: 'driver2026', stopReason: 'endTurn' };
  }
  if (method === 'roots/list') return { roots: [] };
  return { error: { code: -32601, message: `${method} not supported` } };
}

// One request. A -32022 refusal that lists a version we speak is retried once with it; an
// `input_required` result (MRTR) is answered and the request retried with `inputResponses`
// and the server's `requestState` (only when it sent one). Every retry gets a new id.
async function request(method, params) {
  let r = await send(method, params);
  if (r.error?.code === -32022) {
    const offered = (r.error.data?.supported ?? []).find((v) => SUPPORTED.includes(v));
    log(`${method}: -32022 (supported ${JSON.stringify(r.error.data?.supported)}), retrying with ${offered}`);
    if (offered) {
      version = offered;
      r = await send(method, params);
    }
  }
  for (let round = 0; round < 8 && r.result?.resultType === 'input_required'; round++) {
    const inputResponses = {};
    for (const [key, req] of Object.entries(r.result.inputRequests ?? {})) inputResponses[key] = answerInputRequest(req);
    log(`${method}: input_required (${Object.keys(inputResponses).join(', ')}), retrying`);
    const retry = { ...params, inputResponses };
    if (r.result.requestState !== undefined) retry.requestState = r.result.requestState;
    r = await send(method, retry);
  }
  if (r.error) log(`${method}: error ${r.error.code} ${r.error.message}`);
  return r;
}

async function listAll(method, key) {
  const items = [];
  let cursor;
  for (let page = 0; page < 20; page++) {
    const r = await request(method, cursor ? { cursor } : {});
    if (r.error) return { items, error: r.error };
    items.push(...(r.result?.[key] ?? []));
    cursor = r.result?.nextCursor;
    if (!cursor) break;
  }
  return { items };
}

// Arguments for a tool without given ones: a value of the declared type for each property.
function madeUpArgs(schema) {
  const args = {};
  for (const [name, prop] of Object.entries(schema?.properties ?? {})) {
    const t = Array.isArray(prop?.type) ? prop.type[0] : prop?.type;
    args[name] = { string: 'test', integer: 1, number: 1.5, boolean: true, object: {}, array: [], null: null }[t] ?? 'test';
  }
  return args;
}

let failed = false;
try {
  const d = await request('server/discover', {});
  const caps = d.result?.capabilities ?? {};
  log(`server/discover: ${d.error ? 'error' : `${d.result?.serverInfo?.name} ${JSON.stringify(d.result?.supportedVersions)}`}`);

  const { items: tools, error: toolsError } = await listAll('tools/list', 'tools');
  if (toolsError) failed = true;
  log(`tools/list: ${tools.map((t) => t.name).join(', ') || '(none)'}`);
  const listed = new Map(tools.map((t) => [t.name, t]));
  const calls = [];
  if (scenario === 'json-schema-2020-12-preservation') {
    // The scenario's own instruction: send the focal tool's inputSchema, as received, back
    // through its echo tool (so what is checked is what came through the bridge's tools/list).
    const focal = tools.find((t) => t.name !== 'json_schema_echo');
    if (focal && listed.has('json_schema_echo')) calls.push({ name: 'json_schema_echo', arguments: { schema: focal.inputSchema } });
  }
  const listOnly = scenario === 'json-schema-ref-no-deref'; // its server has no tools/call
  for (const c of context.toolCalls ?? []) {
    if (listed.has(c.name)) calls.push(c);
    else log(`context tool ${c.name} is not in tools/list: not called`);
  }
  for (const t of listOnly ? [] : tools) {
    if (!calls.some((c) => c.name === t.name)) calls.push({ name: t.name, arguments: madeUpArgs(t.inputSchema) });
  }
  for (const c of calls) {
    const r = await request('tools/call', { name: c.name, arguments: c.arguments ?? {} });
    const text = (r.result?.content ?? []).filter((x) => x.type === 'text').map((x) => x.text).join(' ');
    log(`tools/call ${c.name}: ${r.error ? `error ${r.error.code}` : r.result?.isError ? `ERROR ${text}` : text}`);
    if (r.error) failed = true;
  }

  if (caps.resources) {
    const { items: resources, error } = await listAll('resources/list', 'resources');
    if (error) failed = true;
    for (const res of resources) {
      const r = await request('resources/read', { uri: res.uri });
      log(`resources/read ${res.uri}: ${r.error ? `error ${r.error.code}` : 'ok'}`);
      if (r.error) failed = true;
    }
  }
  if (caps.prompts) {
    const { items: prompts, error } = await listAll('prompts/list', 'prompts');
    if (error) failed = true;
    for (const p of prompts) {
      const r = await request('prompts/get', { name: p.name, arguments: {} });
      log(`prompts/get ${p.name}: ${r.error ? `error ${r.error.code}` : 'ok'}`);
      if (r.error) failed = true;
    }
  }
} catch (err) {
  failed = true;
  log('failed:', err?.stack ?? err);
} finally {
  // Close stdin as desktop clients do; the bridge must exit promptly (within 2 s).
  const started = Date.now();
  bridge.stdin.end();
  const timer = setTimeout(() => bridge.kill('SIGTERM'), 2000);
  const { code, signal } = await exited;
  clearTimeout(timer);
  const took = Date.now() - started;
  if (took >= 1900 || signal) {
    log(`the bridge did not exit within ${took} ms of its stdin closing (${signal ?? `exit ${code}`})`);
    failed = true;
  } else if (code !== 0) {
    log(`the bridge exited with ${code}`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);

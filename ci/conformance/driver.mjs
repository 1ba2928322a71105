#!/usr/bin/env node
// Stdio driver for the MCP conformance suite's CLIENT scenarios.
//
// The suite starts a test server for a scenario and runs
//     <command> <server-url>
// with MCP_CONFORMANCE_SCENARIO set. This driver is that command: an ordinary MCP SDK
// client (@modelcontextprotocol/sdk, StdioClientTransport) that launches the bridge,
//     wazion-mcp <server-url> --log-level debug
// over stdio, exactly as a desktop client would, and does what the scenario expects of a
// client. Every byte between the suite's server and this client therefore goes through the
// bridge: what the suite checks is the bridge's HTTP behaviour plus an SDK client's stdio one.
//
// The bridge binary is $WAZION_MCP_BIN (default: target/debug/wazion-mcp of this repo).
// The bridge's stderr is passed through, so the suite saves it with the scenario's results.

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ElicitRequestSchema, CreateMessageRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { fileURLToPath } from 'node:url';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const url = process.argv[2];
const scenario = process.env.MCP_CONFORMANCE_SCENARIO ?? '(none)';
if (!url) {
  console.error('usage: driver.mjs <server-url>   (the conformance suite appends the URL)');
  process.exit(2);
}

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const bridge = process.env.WAZION_MCP_BIN ?? path.join(repo, 'target', 'debug', 'wazion-mcp');
const log = (...a) => console.error(`[driver ${scenario}]`, ...a);

// Arguments a scenario's tools expect; anything else gets {}.
const TOOL_ARGS = { add_numbers: { a: 5, b: 3 } };

const client = new Client(
  { name: 'wazion-mcp-conformance-driver', version: '1.0.0' },
  {
    capabilities: {
      // SEP-1034: the SDK fills in the schema's defaults for fields the user left out.
      elicitation: { form: { applyDefaults: true } },
      sampling: {},
    },
  },
);

// A headless "user" who accepts every form without typing anything, so every field the
// server asked for comes back with its schema default (elicitation-sep1034-client-defaults).
client.setRequestHandler(ElicitRequestSchema, async (req) => {
  log('elicitation/create:', req.params.message);
  return { action: 'accept', content: {} };
});
client.setRequestHandler(CreateMessageRequestSchema, async () => ({
  role: 'assistant',
  content: { type: 'text', text: 'ok' },
  model: 'conformance-driver',
  stopReason: 'endTurn',
}));

const context = process.env.MCP_CONFORMANCE_CONTEXT ? JSON.parse(process.env.MCP_CONFORMANCE_CONTEXT) : {};

// The auth/* scenarios: the bridge signs in as it would for a user. Its "browser" is
// browser.mjs ($BROWSER), which fetches the authorization URL and follows the suite's
// redirect to the bridge's loopback callback; its token store is a fresh folder
// (WAZION_MCP_CONFIG_DIR), so no scenario reuses another's sign-in. What a user would configure
// for such a server comes from the scenario: the client metadata document URL the suite's
// authorization server expects (used only where the server supports them), the
// pre-registered client's id and secret (the secret through an environment variable, as
// --oauth-client-secret-env wants it), and --auth oauth for the 2025-03-26 server that
// publishes no metadata at all (in the default `auto` mode the bridge signs in only where
// the server points to OAuth metadata, and relays any other 401).
const extraArgs = [];
const extraEnv = {};
// The bridge's era cache and token store: the folders the runner chose (run.sh sets both),
// never the user's own. getDefaultEnvironment() below passes neither.
for (const k of ['WAZION_MCP_CACHE_DIR', 'WAZION_MCP_CONFIG_DIR']) {
  if (process.env[k]) extraEnv[k] = process.env[k];
}
if (scenario.startsWith('auth/')) {
  const here = path.dirname(fileURLToPath(import.meta.url));
  extraEnv.WAZION_MCP_CONFIG_DIR = mkdtempSync(path.join(tmpdir(), 'wazion-mcp-conformance-'));
  extraEnv.BROWSER = `'${process.execPath}' '${path.join(here, 'browser.mjs')}'`;
  extraArgs.push('--oauth-client-metadata-url', 'https://conformance-test.local/client-metadata.json');
  if (context.client_id) {
    extraArgs.push('--oauth-client-id', context.client_id);
    if (context.client_secret) {
      extraEnv.CONFORMANCE_CLIENT_SECRET = context.client_secret;
      extraArgs.push('--oauth-client-secret-env', 'CONFORMANCE_CLIENT_SECRET');
    }
  }
  if (scenario === 'auth/2025-03-26-oauth-endpoint-fallback') extraArgs.push('--auth', 'oauth');
}

const transport = new StdioClientTransport({
  command: bridge,
  args: [url, '--log-level', process.env.WAZION_MCP_LOG_LEVEL ?? 'debug', ...extraArgs],
  env: {
    ...getDefaultEnvironment(),
    ...(process.env.WAZION_TOKEN ? { WAZION_TOKEN: process.env.WAZION_TOKEN } : {}),
    ...extraEnv,
  },
  stderr: 'inherit',
});

// The suite kills only the shell it started (E3) after its --timeout: never outlive it.
const DEADLINE_MS = Number(process.env.WAZION_DRIVER_DEADLINE_MS ?? 25000);
setTimeout(() => {
  log(`no result after ${DEADLINE_MS} ms: killing the bridge (pid ${transport.pid})`);
  try { process.kill(transport.pid, 'SIGKILL'); } catch {}
  process.exit(1);
}, DEADLINE_MS).unref();

let failed = false;
try {
  await client.connect(transport);
  const v = client.getServerVersion();
  log(`initialized: server ${v?.name} ${v?.version}`);

  const { tools } = await client.listTools();
  log(`tools/list: ${tools.map((t) => t.name).join(', ') || '(none)'}`);

  // The scenario's own tool calls first (MCP_CONFORMANCE_CONTEXT's toolCalls, which the
  // 2026-07-28 scenarios give: their checks need particular argument values), then every
  // other listed tool once.
  const listed = new Set(tools.map((t) => t.name));
  const calls = (context.toolCalls ?? []).filter((c) => listed.has(c.name));
  for (const tool of tools) {
    if (!calls.some((c) => c.name === tool.name)) calls.push({ name: tool.name, arguments: TOOL_ARGS[tool.name] ?? {} });
  }
  for (const c of calls) {
    const result = await client.callTool({ name: c.name, arguments: c.arguments ?? {} });
    const text = (result.content ?? []).filter((x) => x.type === 'text').map((x) => x.text).join(' ');
    log(`tools/call ${c.name}: ${result.isError ? 'ERROR ' : ''}${text}`);
    if (result.isError) failed = true;
  }
} catch (err) {
  failed = true;
  log('failed:', err?.message ?? err, err?.code !== undefined ? `(code ${err.code})` : '', err?.data !== undefined ? JSON.stringify(err.data) : '');
} finally {
  // Closes the bridge's stdin, as desktop clients do. The bridge must exit promptly (S9, E2):
  // the SDK waits 2 s before it sends SIGTERM, so a close that long means it did not.
  const started = Date.now();
  await client.close().catch(() => {});
  const took = Date.now() - started;
  if (took >= 1900) {
    log(`the bridge did not exit within ${took} ms of its stdin closing (the SDK had to signal it)`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);

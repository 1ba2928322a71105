// The MCP Bundle as Claude Desktop uses it (issue 17 item 4), run by ci/package/run.sh on the
// bundle scripts/package.sh made, unpacked by `mcpb unpack` into BUNDLE_DIR. The launch
// command comes from the manifest through @anthropic-ai/mcpb's getMcpConfigForManifest (the
// variable substitution hosts use: ${__dirname}, ${user_config.*}, platform_overrides), and the
// TypeScript SDK client starts it with that command, those arguments and that environment.
//
// Environment (set by run.sh): BUNDLE_DIR, DEMO_URL and DEMO_LOG (token demo-token), WAZ_URL
// (initialize without a token, as WAzion). Prints PASS/FAIL lines and "N passed, M failed".
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { getMcpConfigForManifest } from '@anthropic-ai/mcpb';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import { deletesSeen, runTests, waitFor, WAZION_401 } from './lib.mjs';

const { BUNDLE_DIR, DEMO_URL, DEMO_LOG, WAZ_URL } = process.env;
const manifest = JSON.parse(readFileSync(join(BUNDLE_DIR, 'manifest.json'), 'utf8'));

// What a host would launch for these user_config values (undefined when a required one is missing).
const launchFor = (userConfig) =>
  getMcpConfigForManifest({
    manifest,
    extensionPath: BUNDLE_DIR,
    systemDirs: { HOME: process.env.HOME ?? '/tmp' },
    userConfig,
    pathSeparator: '/',
  });

// The SDK client on the bridge, started as the host would: the config's command, args and env
// on top of the SDK's default environment (no WAZION_TOKEN of this process's leaks in).
async function connect(config) {
  const transport = new StdioClientTransport({
    command: config.command,
    args: config.args,
    env: { ...getDefaultEnvironment(), ...config.env },
    stderr: 'pipe',
  });
  const client = new Client({ name: 'mcpb-host-test', version: '1.0.0' });
  await client.connect(transport);
  return client;
}

const tests = [];
const test = (name, fn) => tests.push({ name, fn });

test('the manifest: a binary server, the token a required sensitive field passed in WAZION_TOKEN, the URL optional with WAzion as default', () => {
  assert.equal(manifest.server.type, 'binary');
  const { wazion_token: token, server_url: url } = manifest.user_config;
  assert.equal(token.sensitive, true);
  assert.equal(token.required, true);
  assert.deepEqual(manifest.server.mcp_config.env, { WAZION_TOKEN: '${user_config.wazion_token}' });
  assert.ok(!JSON.stringify(manifest.server.mcp_config.args).includes('wazion_token'), 'the token is never an argument');
  assert.equal(url.required, false);
  assert.equal(url.default, 'https://www.wazion.com/api/mcp/');
  assert.deepEqual(manifest.compatibility.platforms, [process.platform]);
});

test('as the host substitutes it: the bundled binary, executable, with WAzion\'s URL unless the field is set; nothing without a token', async () => {
  const config = await launchFor({ wazion_token: 'wz_secret' });
  assert.deepEqual(config.args, ['https://www.wazion.com/api/mcp/']);
  assert.deepEqual(config.env, { WAZION_TOKEN: 'wz_secret' });
  assert.equal(config.command, join(BUNDLE_DIR, 'server', 'wazion-mcp'));
  assert.ok((statSync(config.command).mode & 0o111) !== 0, 'the unpacked binary is executable');
  assert.deepEqual((await launchFor({ wazion_token: 't', server_url: 'https://example.test/mcp' })).args, ['https://example.test/mcp']);
  assert.equal(await launchFor({}), undefined, 'a host does not start it without the required token');
  // macOS: the (universal) binary; Windows: the .exe; both with the same arguments and environment.
  assert.deepEqual(manifest.server.mcp_config.platform_overrides, {
    darwin: { command: '${__dirname}/server/wazion-mcp' },
    win32: { command: '${__dirname}/server/wazion-mcp.exe' },
  });
});

test('launched as the manifest says: handshake, tools/list, a tool call, and a DELETE when the host closes it', async () => {
  const before = deletesSeen(DEMO_LOG);
  const client = await connect(await launchFor({ wazion_token: 'demo-token', server_url: DEMO_URL }));
  const { tools } = await client.listTools();
  assert.ok(tools.some((t) => t.name === 'get_shop_status'), `tools: ${tools.map((t) => t.name)}`);
  const result = await client.callTool({ name: 'echo', arguments: { text: 'from the bundle' } });
  assert.deepEqual(result.content, [{ type: 'text', text: 'from the bundle' }]);
  await client.close();
  await waitFor(() => deletesSeen(DEMO_LOG) > before, 'a DELETE of the session');
});

test('a wrong token in the field: the server\'s 401 message reaches the client word for word', async () => {
  const client = await connect(await launchFor({ wazion_token: 'wrong-token', server_url: WAZ_URL }));
  try {
    await assert.rejects(client.callTool({ name: 'echo', arguments: { text: 'x' } }), (err) => {
      assert.equal(err.code, -32000);
      assert.equal(err.message, `MCP error -32000: ${WAZION_401}`);
      return true;
    });
  } finally {
    await client.close();
  }
});

await runTests('mcpb', tests);

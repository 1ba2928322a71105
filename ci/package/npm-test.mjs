// The npm channel as a user gets it (issue 17 item 2), run by ci/package/run.sh after it has
// installed the packed tarballs from a local registry into throw-away prefixes. A real MCP
// client (the TypeScript SDK) and raw JSON-line drivers talk to the bridge through the
// launcher; the demo server (examples/demo_server.rs, --log-requests) says what reached it.
//
// Environment (all set by run.sh):
//   LAUNCHER        <prefix>/node_modules/.bin/wazion-mcp, installed with optional dependencies
//   LAUNCHER_NOOPT  the same, installed with --omit=optional (no platform package)
//   BIN             the packaged binary (to compare the launcher with the binary run directly)
//   DEMO_URL        demo server (token demo-token); its stderr in DEMO_LOG
//   WAZ_URL         demo server that lets initialize through without a token, as WAzion does
//   SCRATCH         a folder for throw-away files
//   VERSION, npm_config_*  the release's version; the throw-away user's npm (local registry)
// Prints one PASS/FAIL line per test and "N passed, M failed"; exits 1 on any failure.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync, chmodSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import { RawBridge, deletesSeen, run, runTests, waitFor, WAZION_401 } from './lib.mjs';

const { LAUNCHER, LAUNCHER_NOOPT, BIN, DEMO_URL, DEMO_LOG, WAZ_URL, SCRATCH } = process.env;
// CI builds on glibc Linux, so the host's package is the -gnu one (platform_of in scripts/package.sh).
const PLATFORM_PKG = `wazion-mcp-${process.platform}-${process.arch}-gnu`;

const tests = [];
const test = (name, fn) => tests.push({ name, fn });

test('the installed packages: exact-version optional dependencies on the whole release matrix, no scripts, no dependencies', () => {
  const root = join(realpathSync(LAUNCHER), '..', '..', '..');
  const launcher = JSON.parse(readFileSync(join(root, 'wazion-mcp', 'package.json'), 'utf8'));
  const matrix = readFileSync(new URL('../../npm/platforms.txt', import.meta.url), 'utf8').split('\n')
    .map((l) => l.replace(/#.*/, '').trim().split(/\s+/)[0]).filter(Boolean);
  const host = PLATFORM_PKG.replace(/^wazion-mcp-/, '');
  const expected = Object.fromEntries([...matrix, ...(matrix.includes(host) ? [] : [host])].map((p) => [`wazion-mcp-${p}`, launcher.version]));
  assert.deepEqual(launcher.optionalDependencies, expected);
  const platform = JSON.parse(readFileSync(join(root, PLATFORM_PKG, 'package.json'), 'utf8'));
  assert.deepEqual([platform.version, platform.os, platform.cpu, platform.libc], [launcher.version, [process.platform], [process.arch], ['glibc']]);
  for (const pkg of [launcher, platform]) {
    assert.equal(pkg.scripts, undefined, `${pkg.name} has no scripts`);
    assert.equal(pkg.dependencies, undefined, `${pkg.name} has no dependencies`);
  }
});

test('the SDK client: handshake, tools/list and a tool call through the launcher; EOF then DELETEs the session', async () => {
  const before = deletesSeen(DEMO_LOG);
  const transport = new StdioClientTransport({
    command: LAUNCHER,
    args: [DEMO_URL],
    env: { ...getDefaultEnvironment(), WAZION_TOKEN: 'demo-token' },
    stderr: 'pipe',
  });
  const client = new Client({ name: 'npm-channel-test', version: '1.0.0' });
  await client.connect(transport);
  assert.equal(client.getServerVersion()?.name !== undefined, true, 'serverInfo in the initialize answer');
  const { tools } = await client.listTools();
  assert.ok(tools.some((t) => t.name === 'echo'), `tools: ${tools.map((t) => t.name)}`);
  const result = await client.callTool({ name: 'echo', arguments: { text: 'through npm' } });
  assert.deepEqual(result.content, [{ type: 'text', text: 'through npm' }]);
  await client.close(); // closes the launcher's stdin: the binary must see EOF and DELETE
  await waitFor(() => deletesSeen(DEMO_LOG) > before, 'a DELETE of the session after EOF');
});

test('through `npx -y wazion-mcp@VERSION`, as a host configured with it runs it: handshake, tool call, DELETE on close', async () => {
  const before = deletesSeen(DEMO_LOG);
  const npmEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('npm_config_')));
  const transport = new StdioClientTransport({
    command: 'npx',
    args: ['-y', `wazion-mcp@${process.env.VERSION}`, DEMO_URL],
    env: { ...getDefaultEnvironment(), ...npmEnv, WAZION_TOKEN: 'demo-token' },
    stderr: 'pipe',
  });
  const client = new Client({ name: 'npx-host-test', version: '1.0.0' });
  await client.connect(transport);
  const result = await client.callTool({ name: 'echo', arguments: { text: 'through npx' } });
  assert.deepEqual(result.content, [{ type: 'text', text: 'through npx' }]);
  await client.close(); // stdin closed through npx, its shell and the launcher: EOF reaches the bridge
  await waitFor(() => deletesSeen(DEMO_LOG) > before, 'a DELETE of the session after EOF through npx');
});

test('SIGTERM to the launcher: the bridge DELETEs its session, and the launcher ends as the binary does', async () => {
  const ends = [];
  for (const command of [LAUNCHER, BIN]) {
    const before = deletesSeen(DEMO_LOG);
    const bridge = new RawBridge(command, [DEMO_URL], { WAZION_TOKEN: 'demo-token' });
    await bridge.handshake();
    const answer = await bridge.request('tools/call', { name: 'echo', arguments: { text: 'x' } });
    assert.deepEqual(answer.result.content, [{ type: 'text', text: 'x' }]);
    bridge.child.kill('SIGTERM'); // stdin stays open: only the signal ends it
    ends.push(await bridge.exited);
    await waitFor(() => deletesSeen(DEMO_LOG) > before, `a DELETE after SIGTERM (${command})`);
  }
  assert.deepEqual(ends[0], ends[1], 'launcher end (first) = binary end (second)');
});

test('the WAzion-style 401 reaches the client as the server sent it', async () => {
  // What the server answers a tools/call with a wrong token, asked directly over HTTP...
  const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
  const init = await fetch(WAZ_URL, {
    method: 'POST',
    headers,
    body: JSON.stringify({
      jsonrpc: '2.0', id: 1, method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'direct', version: '1' } },
    }),
  });
  await init.text();
  const direct = await fetch(WAZ_URL, {
    method: 'POST',
    headers: {
      ...headers,
      authorization: 'Bearer wrong-token',
      'mcp-session-id': init.headers.get('mcp-session-id') ?? '',
      'mcp-protocol-version': '2025-06-18',
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' } } }),
  });
  assert.equal(direct.status, 401);
  const directBody = JSON.parse(await direct.text());
  assert.deepEqual(directBody.error, { code: -32000, message: WAZION_401 });
  // ...and what the client gets through the launcher: the same error, same id.
  const bridge = new RawBridge(LAUNCHER, [WAZ_URL], { WAZION_TOKEN: 'wrong-token' });
  await bridge.handshake();
  const answer = await bridge.request('tools/call', { name: 'echo', arguments: { text: 'x' } }, 7);
  assert.deepEqual(answer, directBody);
  bridge.child.stdin.end();
  assert.deepEqual(await bridge.exited, { code: 0, signal: null });
});

test('WAZION_MCP_BINARY runs that binary, with the arguments, stdio and exit code passed through', async () => {
  const fake = join(SCRATCH, 'fake-bridge.sh');
  writeFileSync(fake, '#!/bin/sh\nprintf "args:%s|" "$@"\ncat\necho "to stderr" >&2\nexit 7\n');
  chmodSync(fake, 0o755);
  const r = await run(LAUNCHER, ['one', 'two words'], { WAZION_MCP_BINARY: fake }, 'stdin bytes\n');
  assert.deepEqual(r, { code: 7, signal: null, stdout: 'args:one|args:two words|stdin bytes\n', stderr: 'to stderr\n' });
});

test('a binary that dies of a signal: the launcher dies of the same signal', async () => {
  const fake = join(SCRATCH, 'killed-bridge.sh');
  writeFileSync(fake, '#!/bin/sh\nkill -KILL $$\n');
  chmodSync(fake, 0o755);
  const r = await run(LAUNCHER, [], { WAZION_MCP_BINARY: fake }, '');
  assert.deepEqual({ code: r.code, signal: r.signal }, { code: null, signal: 'SIGKILL' });
});

test('SIGINT and SIGHUP to the launcher reach the binary, and its exit code comes back', async () => {
  // A Node script, not sh: sh cannot trap a signal it inherited as ignored (a CI step run in
  // the background ignores SIGINT); Node's handlers, like the bridge's, are installed anyway.
  const fake = join(SCRATCH, 'trapping-bridge.js');
  writeFileSync(fake, [
    '#!/usr/bin/env node',
    "process.on('SIGINT', () => { process.stdout.write('got-INT\\n', () => process.exit(3)); });",
    "process.on('SIGHUP', () => { process.stdout.write('got-HUP\\n', () => process.exit(4)); });",
    "process.stdout.write('ready\\n');",
    'setInterval(() => {}, 1000);',
    '',
  ].join('\n'));
  chmodSync(fake, 0o755);
  for (const [signal, expected] of [['SIGINT', { out: 'ready\ngot-INT\n', code: 3 }], ['SIGHUP', { out: 'ready\ngot-HUP\n', code: 4 }]]) {
    const bridge = new RawBridge(LAUNCHER, [], { WAZION_MCP_BINARY: fake });
    let out = '';
    bridge.child.stdout.removeAllListeners('data');
    const ready = new Promise((resolve) => {
      bridge.child.stdout.on('data', (d) => {
        out += d;
        if (out === 'ready\n') resolve();
      });
    });
    await Promise.race([ready, bridge.exited]); // bounded: a launcher that ends early ends the wait
    bridge.child.kill(signal); // to the launcher only, as a host does, not to a process group
    const end = await bridge.exited;
    assert.deepEqual({ out, code: end.code, signal: end.signal }, { out: expected.out, code: expected.code, signal: null }, signal);
  }
});

test('Windows branch (process.platform faked): a signal is not passed on, the console delivers it to the binary; the launcher waits and mirrors', async () => {
  const fake = join(SCRATCH, 'console-bridge.js');
  writeFileSync(fake, [
    '#!/usr/bin/env node',
    "process.on('SIGINT', () => { process.stdout.write('got-INT\\n', () => process.exit(3)); });",
    'process.stdout.write(`ready ${process.pid}\\n`);',
    'setInterval(() => {}, 1000);',
    '',
  ].join('\n'));
  chmodSync(fake, 0o755);
  const preload = join(SCRATCH, 'as-windows.cjs');
  writeFileSync(preload, "Object.defineProperty(process, 'platform', { value: 'win32' });\n");
  const bridge = new RawBridge(process.execPath, ['-r', preload, realpathSync(LAUNCHER)], { WAZION_MCP_BINARY: fake });
  let out = '';
  bridge.child.stdout.removeAllListeners('data');
  const ready = new Promise((resolve) => {
    bridge.child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/^ready (\d+)\n$/);
      if (m) resolve(Number(m[1]));
    });
  });
  const pid = await Promise.race([ready, bridge.exited]);
  assert.equal(typeof pid, 'number', `the fake binary started: ${out}`);
  bridge.child.kill('SIGINT'); // to the launcher: on Windows it must not terminate the binary
  await new Promise((r) => setTimeout(r, 300)); // a forwarded signal would have ended it by now
  process.kill(pid, 'SIGINT'); // what the console does: the binary gets its own Ctrl+C
  const end = await bridge.exited;
  assert.deepEqual({ out: out.replace(/\d+/, 'PID'), ...end }, { out: 'ready PID\ngot-INT\n', code: 3, signal: null });
});

test('on a platform without a package: the launcher lists the platforms there are and points to a source build', async () => {
  const preload = join(SCRATCH, 'other-arch.cjs');
  writeFileSync(preload, "Object.defineProperty(process, 'arch', { value: 'mips' });\n");
  const r = await run(process.execPath, ['-r', preload, realpathSync(LAUNCHER), '--version'], {}, '');
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  for (const text of [`(${process.platform}-mips)`, 'darwin-arm64', 'win32-x64-msvc', 'From source', 'WAZION_MCP_BINARY']) {
    assert.ok(r.stderr.includes(text), `stderr names ${text}:\n${r.stderr}`);
  }
});

test('installed without optional dependencies: the launcher names the missing package and what to do', async () => {
  const r = await run(LAUNCHER_NOOPT, ['--version'], {}, '');
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '', 'nothing on stdout (it carries only protocol)');
  for (const text of [`(${process.platform}-${process.arch})`, PLATFORM_PKG, '--omit=optional', 'WAZION_MCP_BINARY']) {
    assert.ok(r.stderr.includes(text), `stderr names ${text}:\n${r.stderr}`);
  }
});

test('the launcher installed from the registry runs the packaged binary (--version)', async () => {
  const viaLauncher = await run(LAUNCHER, ['--version'], {}, '');
  const direct = await run(BIN, ['--version'], {}, '');
  assert.equal(viaLauncher.code, 0);
  assert.equal(viaLauncher.stdout, direct.stdout);
  assert.match(viaLauncher.stdout, /^wazion-mcp \d+\.\d+\.\d+/);
});

await runTests('npm', tests);

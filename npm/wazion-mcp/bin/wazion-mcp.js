#!/usr/bin/env node
// Starts the native wazion-mcp binary from this platform's package (wazion-mcp-<os>-<cpu>[-<abi>],
// an optional dependency that npm installs only where its os/cpu/libc match) and gets out of
// the way: stdin, stdout and stderr are the binary's own (inherited, never read here), on Unix the
// signals a host sends are passed on, and this process ends as the binary did. No install
// scripts, no dependencies, nothing loaded beyond Node's child_process.
//
// WAZION_MCP_BINARY=/path/to/wazion-mcp runs that binary instead (a copy from install.sh, a
// source build, a platform npm did not install).
'use strict';

const { spawn } = require('child_process');

// The candidates for this machine, in order. On Linux the glibc build comes first where it is
// installed; the static musl build runs on either libc, and npm installs the glibc one only on
// glibc systems (its package sets `libc`). Names: platform_of in scripts/package.sh.
const abis = { linux: ['-gnu', '-musl'], win32: ['-msvc', '-gnu'] }[process.platform] || [''];
const base = `${process.platform}-${process.arch}`;
const exe = process.platform === 'win32' ? 'wazion-mcp.exe' : 'wazion-mcp';

function findBinary() {
  if (process.env.WAZION_MCP_BINARY) return process.env.WAZION_MCP_BINARY;
  for (const abi of abis) {
    try {
      return require.resolve(`wazion-mcp-${base}${abi}/bin/${exe}`);
    } catch (_) {
      // not installed here: try the next one
    }
  }
  return null;
}

function missing() {
  const pkg = require('../package.json');
  const known = Object.keys(pkg.optionalDependencies || {});
  const mine = known.filter((name) => abis.some((abi) => name === `wazion-mcp-${base}${abi}`));
  const lines = [`wazion-mcp: no binary for this platform (${base}) in this installation.`];
  if (mine.length > 0) {
    lines.push(
      `The package ${mine.join(' or ')} should have come with wazion-mcp@${pkg.version} as an`,
      'optional dependency. It is missing when optional dependencies were left out',
      '(--no-optional, --omit=optional) or node_modules was copied from another system.',
      `Fix: reinstall without leaving them out (npx -y wazion-mcp@${pkg.version}, or`,
      `npm install wazion-mcp@${pkg.version}).`,
    );
  } else {
    lines.push(
      `wazion-mcp@${pkg.version} has no npm package for ${base}; built for:`,
      `  ${known.map((name) => name.replace(/^wazion-mcp-/, '')).join(', ')}`,
      'Fix: build it from source (see the README, "From source").',
    );
  }
  lines.push('Or point WAZION_MCP_BINARY at a wazion-mcp binary you have.');
  process.stderr.write(`${lines.join('\n')}\n`);
  process.exit(1);
}

const binary = findBinary();
if (binary === null) missing();

const child = spawn(binary, process.argv.slice(2), { stdio: 'inherit', windowsHide: true });

// A host stops its server with a signal to this process: pass it on and let the binary end
// its session (an HTTP DELETE) and exit; this process ends when it does (the listener also
// keeps Node from dying of the signal itself).
// On Windows there is nothing to pass on: a console's Ctrl+C or close reaches every process
// attached to it, the binary included, and child.kill() there would terminate the binary at
// once, before its DELETE; the listeners only keep this process waiting for the binary's end.
const forwarded = ['SIGINT', 'SIGTERM', 'SIGHUP'];
const forward = process.platform === 'win32' ? () => {} : (signal) => {
  try {
    child.kill(signal);
  } catch (_) {
    // already gone: its exit event follows
  }
};
for (const signal of forwarded) process.on(signal, forward);

child.on('error', (err) => {
  process.stderr.write(`wazion-mcp: cannot start ${binary}: ${err.message}\n`);
  process.exit(1);
});

// Mirror the binary's end: the same exit code, or death by the same signal.
child.on('exit', (code, signal) => {
  if (signal) {
    for (const s of forwarded) process.removeListener(s, forward);
    // Should the signal not end this process, the shell's convention for the status.
    process.exitCode = 128 + (require('os').constants.signals[signal] || 0);
    process.kill(process.pid, signal);
    return;
  }
  process.exit(code === null ? 1 : code);
});

#!/usr/bin/env node
// Headless agent example: an MCP SDK client that launches wazion-mcp over stdio, lists the
// server's tools and calls one, with no desktop client involved. Use it as the starting
// point for an agent runner, a cron job or a CI step.
//
// Run it (Node 18 or newer):
//
//   npm install @modelcontextprotocol/sdk@1.32.2     # in this folder, or copy the script into your project
//   WAZION_TOKEN=wz_... node headless_agent.mjs                       # list WAzion's tools
//   WAZION_TOKEN=wz_... node headless_agent.mjs TOOL '{"arg":"value"}' # ...and call TOOL
//
// Environment:
//   WAZION_TOKEN    your token (WAzion dashboard -> Settings); handed to the bridge only
//   WAZION_MCP      the bridge binary (default: `wazion-mcp` on PATH; configs should use an
//                   absolute path, e.g. ~/.local/bin/wazion-mcp from install.sh)
//   WAZION_MCP_URL  another Streamable HTTP MCP server (default: the bridge's, WAzion's)
//
// Offline, against the repository's demo server:
//
//   cargo run --example demo_server -- --port 8931 --token demo-token &
//   WAZION_TOKEN=demo-token WAZION_MCP=target/debug/wazion-mcp \
//     WAZION_MCP_URL=http://127.0.0.1:8931/mcp node examples/headless_agent.mjs echo '{"text":"hi"}'
//
// Exit status: 0 on success, 1 if the call failed or the tool reported an error. The
// server's own error message (a 401 for a bad token, say) is printed as it arrived.

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';

const [toolName, argsJson = '{}'] = process.argv.slice(2);
const bridge = process.env.WAZION_MCP || 'wazion-mcp';
const url = process.env.WAZION_MCP_URL;

// The SDK starts the bridge with only a minimal environment (PATH, HOME, ...): pass the token
// explicitly. It never appears on the command line.
const env = { ...getDefaultEnvironment() };
if (process.env.WAZION_TOKEN) env.WAZION_TOKEN = process.env.WAZION_TOKEN;

const transport = new StdioClientTransport({
  command: bridge,
  args: url ? [url] : [],
  env,
  stderr: 'inherit', // the bridge's warnings (e.g. "WAZION_TOKEN is not set") stay visible
});
const client = new Client({ name: 'wazion-headless-agent', version: '1.0.0' });

let status = 0;
try {
  await client.connect(transport); // initialize + notifications/initialized, through the bridge
  const { tools } = await client.listTools();
  console.log(`tools: ${tools.map((t) => t.name).join(', ')}`);

  if (toolName) {
    const result = await client.callTool({ name: toolName, arguments: JSON.parse(argsJson) });
    for (const item of result.content ?? []) {
      console.log(item.type === 'text' ? item.text : JSON.stringify(item));
    }
    if (result.structuredContent) console.log(JSON.stringify(result.structuredContent));
    if (result.isError) status = 1;
  }
} catch (err) {
  // JSON-RPC errors keep the server's code, message and data (HTTP status, WWW-Authenticate).
  console.error(`error: ${err.message}`);
  if (err.data !== undefined) console.error(JSON.stringify(err.data));
  status = 1;
} finally {
  await client.close(); // closes the bridge's stdin: it ends the session and exits
}
process.exit(status);

// The official MCP TypeScript SDK client against any MCP server protected by a bearer token, as a
// host with a token in hand runs it: StreamableHTTPClientTransport with an `Authorization: Bearer`
// header, connect (initialize), tools/list, then one tools/call.
//
// Usage: MCP_BEARER_TOKEN=<token> node whoami.mjs <mcp server url> [tool, default whoami]
// (the token comes from the environment, not argv, so it never shows in a process list; without
// it no Authorization header is sent).
//
// Prints one JSON line on stdout and exits 0 when every step succeeded:
//   {"ok": true, "server": {name, version}, "protocol_version", "tools": [names],
//    "tool": name, "result": {content, structuredContent, isError}}
// or, when the SDK reported an error, exits 1 after printing:
//   {"ok": false, "step": "connect|list|call", "error": {"name", "code", "message"}}
// (`code` is the HTTP status for the SDK's StreamableHTTPError, the JSON-RPC code for an McpError).
//
// Run by tests/server/js_client.rs (`npm ci --prefix tests/js` first).

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const [serverUrl, tool = 'whoami'] = process.argv.slice(2);
if (!serverUrl) {
  console.error('usage: MCP_BEARER_TOKEN=<token> node whoami.mjs <mcp server url> [tool]');
  process.exit(2);
}
const token = process.env.MCP_BEARER_TOKEN;
const headers = token ? { Authorization: `Bearer ${token}` } : {};

let step = 'connect';
const client = new Client({ name: 'cargo-pmcp-sdk-test', version: '1.0.0' });
try {
  const transport = new StreamableHTTPClientTransport(new URL(serverUrl), { requestInit: { headers } });
  await client.connect(transport);
  step = 'list';
  const tools = await client.listTools();
  step = 'call';
  const result = await client.callTool({ name: tool, arguments: {} });
  console.log(
    JSON.stringify({
      ok: true,
      server: client.getServerVersion() ?? null,
      protocol_version: transport.protocolVersion ?? null,
      tools: tools.tools.map((t) => t.name),
      tool,
      result,
    }),
  );
  await client.close();
} catch (e) {
  console.log(
    JSON.stringify({
      ok: false,
      step,
      error: { name: e?.constructor?.name ?? 'Error', code: e?.code ?? null, message: String(e?.message ?? e) },
    }),
  );
  await client.close().catch(() => {});
  process.exit(1);
}

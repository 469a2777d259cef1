// The official MCP TypeScript SDK client against the OAuth bridge, as MCP Inspector and many hosts
// run it: StreamableHTTPClientTransport with an OAuthClientProvider. The provider's
// redirectToAuthorization is a scripted browser (fetch with manual redirects, the consent form
// submitted, the bridge's cookie carried by hand); the emulator signs the user in on its own.
//
// Usage: node bridge-sdk.mjs <mcp server url> <inspector|claude>
// Prints one JSON line: {"client_id_sealed", "tools", "whoami", "refreshed"}; exits 1 on failure.
//
// Run by tests/bridge/sdk.rs (`npm ci --prefix tests/js` first).

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

const [serverUrl, mode] = process.argv.slice(2);
if (!serverUrl || !['inspector', 'claude'].includes(mode)) {
  console.error('usage: node bridge-sdk.mjs <mcp server url> <inspector|claude>');
  process.exit(2);
}
const serverOrigin = new URL(serverUrl).origin;
const redirectUrl =
  mode === 'claude' ? 'https://claude.ai/api/mcp/auth_callback' : 'http://127.0.0.1:53682/callback';
const clientName = mode === 'claude' ? 'Claude' : 'MCP Inspector';

/** The "browser": authorize → consent page → Entra (emulator) → bridge callback → the client's
 *  redirect URI, which is never fetched: its code is read from the Location. */
async function browse(authorizationUrl) {
  let r = await fetch(authorizationUrl, { redirect: 'manual' });
  if (r.status !== 200) throw new Error(`authorize answered ${r.status}: ${await r.text()}`);
  const cookie = (r.headers.get('set-cookie') || '').split(';')[0];
  const html = await r.text();
  if (!html.includes(clientName)) throw new Error('the consent page does not name the client');
  if (/<script/i.test(html)) throw new Error('the consent page has a script');
  const txn = html.match(/name="txn" value="([^"]+)"/)?.[1];
  if (!txn) throw new Error('no consent form on the page');
  r = await fetch(new URL('/authorize', serverOrigin), {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
    body: new URLSearchParams({ txn, action: 'approve' }),
  });
  let location = r.headers.get('location');
  for (let hops = 0; hops < 10; hops++) {
    if (!location) throw new Error(`no redirect (status ${r.status}): ${await r.text()}`);
    const at = new URL(location);
    if (at.href.startsWith(redirectUrl)) {
      if (at.searchParams.get('error')) throw new Error(`sign-in failed: ${at.searchParams.get('error')}`);
      if (at.searchParams.get('iss') !== serverOrigin) throw new Error('the redirect has no matching iss');
      return at.searchParams.get('code');
    }
    const headers = at.origin === serverOrigin ? { cookie } : {};
    r = await fetch(at, { redirect: 'manual', headers });
    location = r.headers.get('location') && new URL(r.headers.get('location'), at).href;
  }
  throw new Error('too many redirects');
}

class ScriptedProvider {
  constructor() {
    this._client = undefined;
    this._tokens = undefined;
    this._verifier = undefined;
    this.code = undefined;
  }
  get redirectUrl() {
    return redirectUrl;
  }
  get clientMetadata() {
    return {
      client_name: clientName,
      redirect_uris: [redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }
  state() {
    return `state-${Math.random().toString(36).slice(2)}`;
  }
  clientInformation() {
    return this._client;
  }
  saveClientInformation(info) {
    this._client = info;
  }
  tokens() {
    return this._tokens;
  }
  saveTokens(tokens) {
    this._tokens = tokens;
  }
  saveCodeVerifier(v) {
    this._verifier = v;
  }
  codeVerifier() {
    return this._verifier;
  }
  async redirectToAuthorization(url) {
    this.code = await browse(url.toString());
  }
}

async function connected(provider) {
  const transport = new StreamableHTTPClientTransport(new URL(serverUrl), { authProvider: provider });
  const client = new Client({ name: 'bridge-sdk-test', version: '1.0.0' });
  await client.connect(transport);
  return { client, transport };
}

async function main() {
  const provider = new ScriptedProvider();
  const transport = new StreamableHTTPClientTransport(new URL(serverUrl), { authProvider: provider });
  const first = new Client({ name: 'bridge-sdk-test', version: '1.0.0' });
  try {
    await first.connect(transport);
    throw new Error('connected without signing in');
  } catch (e) {
    if (!(e instanceof UnauthorizedError)) throw e;
  }
  if (!provider.code) throw new Error('the SDK never sent the browser to authorize');
  await transport.finishAuth(provider.code);

  const { client } = await connected(provider);
  const tools = await client.listTools();
  const who = await client.callTool({ name: 'whoami', arguments: {} });
  await client.close();

  // Refresh: an expired access token makes the SDK use the refresh token on the next 401.
  const before = provider._tokens.access_token;
  provider._tokens = { ...provider._tokens, access_token: 'expired.invalid.token' };
  const again = await connected(provider).catch((e) => ({ error: e }));
  let refreshed = false;
  if (!again.error) {
    await again.client.listTools();
    refreshed = provider._tokens.access_token !== 'expired.invalid.token' && !!provider._tokens.access_token;
    await again.client.close();
  }
  console.log(
    JSON.stringify({
      client_id_sealed: !provider._client.client_id.includes('.') && provider._client.client_id.length > 40,
      tools: tools.tools.map((t) => t.name),
      whoami: who.structuredContent,
      refreshed,
      same_token_after_refresh: before === provider._tokens.access_token,
    }),
  );
}

main().catch((e) => {
  console.error(`bridge-sdk: ${e?.stack || e}`);
  process.exit(1);
});

// Starts a real gateway on 127.0.0.1:0 with a temp data dir, plus a tiny JSON helper for tests
// that speak HTTP directly (gateway tests never go through src/client).
import { startGateway, createTenantToken, type GatewayOptions, type RunningGateway } from '../../src/gateway/server.js';
import { makeTempDir } from './temp-dir.js';

export interface TestGateway {
  gw: RunningGateway;
  url: string;
  token: string;
  dataDir: string;
  /** JSON request; returns status + parsed body (null for empty). */
  call(method: string, path: string, body?: unknown, token?: string | null): Promise<{ status: number; body: any; headers: Headers }>;
  /** A token for another tenant. */
  tokenFor(tenant: string): Promise<string>;
  close(): Promise<void>;
}

/** A JSON caller for any running gateway (default token: its admin token; `null` sends none). */
export function callerFor(gw: Pick<RunningGateway, 'url' | 'token'>): TestGateway['call'] {
  return async (method, path, body, token) => {
    const headers: Record<string, string> = {};
    const t = token === undefined ? gw.token : token;
    if (t !== null) headers.authorization = `Bearer ${t}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(gw.url + path, { method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
    const text = await res.text();
    let parsed: any = null;
    if (text.length) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    return { status: res.status, body: parsed, headers: res.headers };
  };
}

/** Create an empty session through `POST /v1/sessions` (asserting it worked); returns its id. */
export async function newSession(call: TestGateway['call'], token?: string): Promise<string> {
  const r = await call('POST', '/v1/sessions', {}, token);
  if (r.status !== 200 || !/^sess_/.test(r.body?.id ?? '')) throw new Error(`POST /v1/sessions → ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.id as string;
}

export async function startTestGateway(opts: Omit<GatewayOptions, 'dataDir' | 'port'> = {}): Promise<TestGateway> {
  const { dir, cleanup } = await makeTempDir('aether-gw-');
  const gw = await startGateway({ ...opts, dataDir: dir, port: 0 });
  const call = callerFor(gw);
  return {
    gw,
    url: gw.url,
    token: gw.token,
    dataDir: dir,
    call,
    tokenFor: async (tenant) => gw.core.auth.createToken(tenant),
    async close() {
      await gw.close();
      await cleanup();
    },
  };
}

export { createTenantToken };

// Starts a real gateway on 127.0.0.1:0 with a temp data dir, plus a tiny JSON helper for tests
// that speak HTTP directly (gateway tests never go through src/client).
import { startGateway, createTenantToken, type RunningGateway } from '../../src/gateway/server.js';
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

export async function startTestGateway(): Promise<TestGateway> {
  const { dir, cleanup } = await makeTempDir('aether-gw-');
  const gw = await startGateway({ dataDir: dir, port: 0 });
  const call: TestGateway['call'] = async (method, path, body, token) => {
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

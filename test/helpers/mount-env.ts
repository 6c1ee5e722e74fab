// One environment for real-mount tests: a gateway process, an AETHER home in a temp dir, helpers
// to create sessions and read the gateway's view over plain HTTP, and mount daemons that are
// always unmounted in teardown.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { startGatewayProcess, startMountProcess, detach, type GatewayProc, type MountProc, type MountSpec } from './processes.js';

export interface MountEnv {
  root: string;
  home: string;
  gw: GatewayProc;
  call(method: string, p: string, body?: unknown): Promise<any>;
  createSession(tags?: Record<string, string>): Promise<string>;
  mount(sessionId: string, name?: string, extra?: Partial<MountSpec>): Promise<MountProc>;
  /** The gateway's manifest node for a path (undefined if absent). */
  node(sessionId: string, p: string): Promise<any>;
  /** The bytes of a file as the gateway has them (extents + blob route). */
  bytes(sessionId: string, p: string): Promise<Buffer>;
  metrics(): Promise<{ blobsStored: number; bytesStored: number; blobsServed: number; bytesServed: number; bytesReceived: number }>;
  teardown(): Promise<void>;
}

/**
 * fetch that retries once when a kept-alive socket was closed by the server while idle (undici
 * reports UND_ERR_SOCKET, or EPIPE/ECONNRESET when the close races the write of the request: the
 * server keeps idle sockets 65 s and undici reuses them up to the hinted timeout minus 1 s).
 */
async function fetchRetry(url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (e) {
    const code = (e as { cause?: { code?: string } }).cause?.code;
    if (code !== 'UND_ERR_SOCKET' && code !== 'EPIPE' && code !== 'ECONNRESET') throw e;
    return fetch(url, init);
  }
}

export const sha = (b: Buffer | string) => 'sha256:' + createHash('sha256').update(b).digest('hex');

export async function createMountEnv(): Promise<MountEnv> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'aether-mnt-'));
  const home = path.join(root, 'home');
  fs.mkdirSync(path.join(root, 'gwdata'), { recursive: true });
  fs.mkdirSync(home, { recursive: true });
  const gw = await startGatewayProcess(path.join(root, 'gwdata'));
  const mounts: MountProc[] = [];
  const call = async (method: string, p: string, body?: unknown) => {
    const res = await fetchRetry(gw.url + p, {
      method,
      headers: { authorization: `Bearer ${gw.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    const parsed = text ? JSON.parse(text) : {};
    if (!res.ok) throw new Error(`${method} ${p} → ${res.status} ${text}`);
    return parsed;
  };
  const env: MountEnv = {
    root,
    home,
    gw,
    call,
    async createSession(tags = {}) {
      return (await call('POST', '/v1/sessions', { initialTags: tags })).id;
    },
    async mount(sessionId, name = 'mnt', extra = {}) {
      const m = await startMountProcess({ home, gatewayUrl: gw.url, token: gw.token, sessionId, mountpoint: path.join(root, name), ...extra });
      mounts.push(m);
      return m;
    },
    async node(sessionId, p) {
      const r = await call('GET', `/v1/sessions/${sessionId}/manifest?pathPrefix=${encodeURIComponent(p)}&maxDepth=1&includeCasExtents=true`);
      return (r.nodes ?? []).find((n: any) => n.path === p);
    },
    async bytes(sessionId, p) {
      const r = await call('POST', `/v1/sessions/${sessionId}:getCasExtents`, { path: p });
      const parts: Buffer[] = [];
      for (const x of r.extents ?? []) {
        const len = Number(x.length);
        if (!x.hash) {
          parts.push(Buffer.alloc(len));
          continue;
        }
        const start = Number(x.casOffset ?? 0);
        const res = await fetchRetry(`${gw.url}/v1/sessions/${sessionId}/blobs/${encodeURIComponent(x.hash)}`, {
          headers: { authorization: `Bearer ${gw.token}`, range: `bytes=${start}-${start + len - 1}` },
        });
        parts.push(Buffer.from(await res.arrayBuffer()));
      }
      return Buffer.concat(parts);
    },
    async metrics() {
      const m = await call('GET', '/v1/metrics/cas');
      return Object.fromEntries(Object.entries(m).map(([k, v]) => [k, Number(v)])) as any;
    },
    async teardown() {
      for (const m of mounts) {
        await m.stop().catch(() => undefined);
        detach(m.mountpoint);
      }
      await gw.stop().catch(() => undefined);
      if (!process.env.AETHER_KEEP_TEST_DIRS) fs.rmSync(root, { recursive: true, force: true });
    },
  };
  return env;
}

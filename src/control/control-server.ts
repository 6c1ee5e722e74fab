// Control plane of a running mount daemon: a unix socket speaking one JSON object per line
// ({id, method, params} → {id, result} | {id, error:{code, message}}). `aether sync`, `status`,
// `commit` and `unmount` use it to reach a live mount. The socket is mode 0600 (owner only).
import * as net from 'node:net';
import * as fsp from 'node:fs/promises';

export type ControlHandler = (params: Record<string, unknown>) => Promise<unknown> | unknown;

export interface ControlServer {
  socketPath: string;
  close(): Promise<void>;
}

export async function startControlServer(socketPath: string, handlers: Record<string, ControlHandler>): Promise<ControlServer> {
  await fsp.rm(socketPath, { force: true });
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => undefined);
    let buf = '';
    sock.on('data', (chunk) => {
      buf += chunk.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        void answer(sock, line);
      }
    });
  });
  async function answer(sock: net.Socket, line: string): Promise<void> {
    let id: unknown = null;
    try {
      const req = JSON.parse(line) as { id?: unknown; method?: string; params?: Record<string, unknown> };
      id = req.id ?? null;
      const h = req.method ? handlers[req.method] : undefined;
      if (!h) throw Object.assign(new Error(`unknown control method ${req.method}`), { code: 'AETHER_CONTROL_UNKNOWN_METHOD' });
      const result = await h(req.params ?? {});
      sock.write(JSON.stringify({ id, result: result ?? null }) + '\n');
    } catch (e) {
      const err = e as { code?: string; message?: string; errno?: number };
      sock.write(JSON.stringify({ id, error: { code: err.code ?? 'AETHER_CONTROL_FAILED', message: err.message ?? String(e) } }) + '\n');
    }
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  await fsp.chmod(socketPath, 0o600);
  return {
    socketPath,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      await fsp.rm(socketPath, { force: true });
    },
  };
}

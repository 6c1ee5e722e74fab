// Client side of the mount daemon's control socket (see control-server.ts).
import * as net from 'node:net';
import { AetherError } from '../shared/errors.js';

export class ControlError extends AetherError {}

/** Call one method on a mount daemon's control socket. */
export function controlCall<T = unknown>(socketPath: string, method: string, params: Record<string, unknown> = {}, timeoutMs = 10 * 60_000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const sock = net.createConnection(socketPath);
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new ControlError('AETHER_CONTROL_TIMEOUT', `mount daemon did not answer ${method} within ${Math.round(timeoutMs / 1000)} s`, { kind: 'network' }));
    }, timeoutMs);
    sock.on('connect', () => sock.write(JSON.stringify({ id: 1, method, params }) + '\n'));
    sock.on('data', (c) => {
      buf += c.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      sock.end();
      try {
        const res = JSON.parse(buf.slice(0, nl)) as { result?: T; error?: { code: string; message: string } };
        if (res.error) reject(new ControlError(res.error.code, res.error.message, { kind: res.error.code.includes('CONFLICT') ? 'conflict' : 'internal' }));
        else resolve(res.result as T);
      } catch (e) {
        reject(new ControlError('AETHER_CONTROL_BAD_REPLY', `bad reply from mount daemon: ${String(e)}`));
      }
    });
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(new ControlError('AETHER_MOUNT_UNREACHABLE', `cannot reach the mount daemon at ${socketPath}: ${(e as NodeJS.ErrnoException).code ?? e.message}`, { kind: 'network', cause: e, hint: 'is the mount still running? try `aether mounts`' }));
    });
  });
}

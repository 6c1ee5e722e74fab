// Overlay recovery: find the overlays that dead mounts of a session left behind (kill -9, a crash,
// power loss) so their queued changes can be shipped before a new mount serves. Each overlay dir
// has an owner.json naming the daemon's pid; a dir whose owner is alive belongs to a running mount
// and is never touched.
// Callers: src/fs/session-fs.ts (init, overlay mode).
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { Logger } from '../../shared/log.js';
import { SqliteOverlayStore, type OverlayStore } from './overlay-store.js';

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface RecoverOptions {
  /** <sessionStateDir>/overlay */
  root: string;
  /** This mount's own overlay dir. */
  exclude: string;
  logger: Logger;
  /** Ship every queued op of `store` (throws if it cannot now); returns how many ops it shipped. */
  ship: (store: OverlayStore) => Promise<number>;
}

/** Ship and remove every dead overlay under `root`. Returns the number of ops shipped. */
export async function recoverOverlays(o: RecoverOptions): Promise<number> {
  let names: string[];
  try {
    names = await fsp.readdir(o.root);
  } catch {
    return 0;
  }
  let total = 0;
  for (const name of names.sort()) {
    const dir = path.join(o.root, name);
    if (path.resolve(dir) === path.resolve(o.exclude)) continue;
    const owner = await fsp.readFile(path.join(dir, 'owner.json'), 'utf8').then((t) => JSON.parse(t) as { pid?: number }, () => ({ pid: 0 }));
    if (owner.pid && owner.pid !== process.pid && alive(owner.pid)) continue;
    const store = SqliteOverlayStore.open(dir);
    try {
      const n = await o.ship(store);
      total += n;
      if (n) o.logger.info('shipped changes a previous mount left in its overlay', { ops: n, dir });
    } finally {
      store.close();
    }
    await fsp.rm(dir, { recursive: true, force: true });
  }
  return total;
}

// Registry of live mounts on this machine: one JSON file per mount under <home>/state/mounts/,
// written by the daemon when it is ready and removed when it exits. `aether mounts`, `unmount`,
// `status`, `sync` and `commit` find a mount (by directory or session) through it.
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { createHash } from 'node:crypto';

export interface MountRecord {
  mountKey: string;
  sessionId: string;
  mountpoint: string;
  pid: number;
  socketPath: string;
  gatewayUrl: string;
  binding: string;
  readOnly: boolean;
  startedAt: string;
  logFile?: string;
}

export function mountsDir(home: string): string {
  return path.join(home, 'state', 'mounts');
}

/** Short stable key for a mountpoint (socket paths must stay under ~100 bytes). */
export function mountKeyFor(mountpoint: string): string {
  return createHash('sha256').update(path.resolve(mountpoint)).digest('hex').slice(0, 16);
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function writeMountRecord(home: string, rec: MountRecord): Promise<void> {
  const dir = mountsDir(home);
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, `${rec.mountKey}.json`);
  await fsp.writeFile(`${file}.tmp`, JSON.stringify(rec, null, 2), { mode: 0o600 });
  await fsp.rename(`${file}.tmp`, file);
}

export async function removeMountRecord(home: string, mountKey: string): Promise<void> {
  await fsp.rm(path.join(mountsDir(home), `${mountKey}.json`), { force: true });
}

/** Live mounts (records of dead daemons are pruned). */
export async function listMounts(home: string): Promise<MountRecord[]> {
  let names: string[];
  try {
    names = await fsp.readdir(mountsDir(home));
  } catch {
    return [];
  }
  const out: MountRecord[] = [];
  for (const n of names.filter((x) => x.endsWith('.json'))) {
    try {
      const rec = JSON.parse(await fsp.readFile(path.join(mountsDir(home), n), 'utf8')) as MountRecord;
      if (pidAlive(rec.pid)) out.push(rec);
      else await fsp.rm(path.join(mountsDir(home), n), { force: true });
    } catch {
      /* torn record: ignore */
    }
  }
  return out.sort((a, b) => a.mountpoint.localeCompare(b.mountpoint));
}

/** The mount containing `dir` (deepest mountpoint that is a prefix), if any. */
export async function findMountForPath(home: string, dir: string): Promise<MountRecord | undefined> {
  const abs = path.resolve(dir);
  let best: MountRecord | undefined;
  for (const m of await listMounts(home)) {
    if (abs === m.mountpoint || abs.startsWith(m.mountpoint + path.sep)) {
      if (!best || m.mountpoint.length > best.mountpoint.length) best = m;
    }
  }
  return best;
}

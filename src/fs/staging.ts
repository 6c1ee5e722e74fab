// StagingArea: local, durable homes for written bytes before they reach the gateway.
//
// Each dirty file gets a sparse staging file holding exactly the bytes written locally; a JSON
// journal record (written and fsynced when a file is flushed/fsynced, before the upload starts)
// says which path, base hash, size and byte ranges it carries. The record is deleted only after
// the gateway acknowledged the upload. So after a crash (kill -9) the next mount of the session
// finds every closed or fsynced change and uploads it: nothing acknowledged to an application is
// lost. Layout: <stateDir>/sessions/<sessionId>/mounts/<mountKey>/{staging/,journal/,owner.json}.
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Range } from './range-set.js';

export interface JournalRecord {
  /** Stable id; also names the staging file. */
  id: string;
  sessionId: string;
  /** Session path the bytes belong to (at the time of the flush). */
  path: string;
  /** Content hash of the remote base the ranges apply to ("" = new file). */
  baseHash: string;
  /** Base bytes beyond this offset no longer exist (the file was truncated). */
  baseLimit: number;
  size: number;
  mode: number;
  /** Byte ranges whose content is in the staging file. */
  ranges: Range[];
  /** True when the file did not exist on the gateway (create it). */
  isNew: boolean;
  writtenAt: number;
}

export class StagingArea {
  readonly dir: string;
  private readonly stagingDir: string;
  private readonly journalDir: string;

  constructor(sessionRoot: string, readonly mountKey: string) {
    this.dir = path.join(sessionRoot, 'mounts', mountKey);
    this.stagingDir = path.join(this.dir, 'staging');
    this.journalDir = path.join(this.dir, 'journal');
  }

  /** Create dirs and claim them for this process. */
  async init(): Promise<void> {
    await fsp.mkdir(this.stagingDir, { recursive: true, mode: 0o700 });
    await fsp.mkdir(this.journalDir, { recursive: true, mode: 0o700 });
    await fsp.writeFile(path.join(this.dir, 'owner.json'), JSON.stringify({ pid: process.pid, startedAt: Date.now() }));
  }

  newId(): string {
    return `${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`;
  }

  stagingPath(id: string): string {
    return path.join(this.stagingDir, id);
  }

  /** Durably record a pending upload (staging file fsynced first, then the record). */
  async writeRecord(rec: JournalRecord, stagingFd?: fsp.FileHandle): Promise<void> {
    if (stagingFd) await stagingFd.sync();
    const file = path.join(this.journalDir, `${rec.id}.json`);
    const tmp = `${file}.tmp`;
    const fh = await fsp.open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(JSON.stringify(rec));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, file);
    const dh = await fsp.open(this.journalDir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  }

  async removeRecord(id: string): Promise<void> {
    await fsp.rm(path.join(this.journalDir, `${id}.json`), { force: true });
  }

  async removeStaging(id: string): Promise<void> {
    await fsp.rm(this.stagingPath(id), { force: true });
  }

  async listRecords(): Promise<JournalRecord[]> {
    return readRecords(this.journalDir);
  }

  /** Remove this mount's dirs (clean unmount with nothing pending). */
  async destroyIfEmpty(): Promise<void> {
    if ((await this.listRecords()).length === 0) await fsp.rm(this.dir, { recursive: true, force: true });
  }
}

async function readRecords(journalDir: string): Promise<JournalRecord[]> {
  let names: string[];
  try {
    names = await fsp.readdir(journalDir);
  } catch {
    return [];
  }
  const out: JournalRecord[] = [];
  for (const n of names.filter((x) => x.endsWith('.json')).sort()) {
    try {
      out.push(JSON.parse(await fsp.readFile(path.join(journalDir, n), 'utf8')) as JournalRecord);
    } catch {
      /* a torn .tmp never gets renamed; a corrupt record is skipped */
    }
  }
  return out;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A dead mount's leftover journal: records plus where their staging files are. */
export interface Orphan {
  dir: string;
  records: JournalRecord[];
  stagingPath(id: string): string;
}

/** Journals left by mounts of this session whose process is gone (crashed or killed). */
export async function findOrphans(sessionRoot: string, exceptKey: string): Promise<Orphan[]> {
  const mountsDir = path.join(sessionRoot, 'mounts');
  let keys: string[];
  try {
    keys = await fsp.readdir(mountsDir);
  } catch {
    return [];
  }
  const out: Orphan[] = [];
  for (const key of keys) {
    if (key === exceptKey) continue;
    const dir = path.join(mountsDir, key);
    let pid = 0;
    try {
      pid = JSON.parse(await fsp.readFile(path.join(dir, 'owner.json'), 'utf8')).pid;
    } catch {
      /* no owner: treat as dead */
    }
    if (pid && pidAlive(pid)) continue;
    out.push({ dir, records: await readRecords(path.join(dir, 'journal')), stagingPath: (id) => path.join(dir, 'staging', id) });
  }
  return out;
}

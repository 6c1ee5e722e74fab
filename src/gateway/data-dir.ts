// The gateway's data directory: gateway.db (+ -wal/-shm), blobs/, tmp/, git/ mirrors, admin-token
// and secret.key. Owns opening (or initialising) it and keeping it private to the gateway's user.
//
// Invariants:
//  - After openGatewayData(), the data dir is mode 0700 and nothing beneath it grants any group or
//    other permission bit: files the gateway creates are made 0600 (blobs 0400), directories 0700,
//    whatever the umask; modes left by older versions or another umask are fixed at every start
//    (a walk that touches only entries with group/other bits set).
//  - Tokens are stored only as hashes (auth.ts); the plain admin token lives in
//    `<data>/admin-token` (0600) and the key sealing session secrets in `<data>/secret.key` (0600),
//    beside the data they protect: the data dir's owner can read everything anyway, and no one
//    else can enter the directory. See docs/SEMANTICS.md "Gateway data directory".
// Callers: server.ts (startGateway, createTenantToken).
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { openDatabase, type Db } from './db/database.js';
import { Auth, ADMIN_PRINCIPAL, DEFAULT_TENANT } from './auth.js';
import { systemClock, type Clock } from '../shared/clock.js';

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** Write a file readable only by its owner, atomically. */
export async function writePrivate(file: string, content: string | Buffer): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await fsp.writeFile(tmp, content, { mode: PRIVATE_FILE_MODE });
  await fsp.chmod(tmp, PRIVATE_FILE_MODE);
  await fsp.rename(tmp, file);
}

async function loadOrCreate(file: string, make: () => string | Buffer): Promise<Buffer> {
  try {
    return await fsp.readFile(file);
  } catch {
    await writePrivate(file, make());
    return fsp.readFile(file);
  }
}

/** Create `file` empty with mode 0600 unless it exists (SQLite would create it 0644 & ~umask). */
async function touchPrivate(file: string): Promise<void> {
  const fh = await fsp.open(file, 'a', PRIVATE_FILE_MODE);
  await fh.close();
}

/**
 * Strip group/other permission bits from everything under `root` (symlinks are left alone: their
 * mode is meaningless). Returns how many entries were changed. Bounded by the tree's size; the
 * directory itself is made private first, so the walk only tidies what no one else can reach.
 */
export async function privatizeTree(root: string): Promise<number> {
  let changed = 0;
  const fix = async (p: string, mode: number): Promise<void> => {
    if ((mode & 0o077) === 0) return;
    await fsp.chmod(p, mode & 0o700).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
    changed++;
  };
  const st = await fsp.lstat(root);
  await fix(root, st.mode & 0o777);
  const stack = [root];
  while (stack.length) {
    const dir = stack.pop()!;
    let names: string[];
    try {
      names = await fsp.readdir(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw e;
    }
    for (const name of names) {
      const p = path.join(dir, name);
      let s;
      try {
        s = await fsp.lstat(p);
      } catch {
        continue; // removed meanwhile
      }
      if (s.isSymbolicLink()) continue;
      await fix(p, s.mode & 0o777);
      if (s.isDirectory()) stack.push(p);
    }
  }
  return changed;
}

/** Open (or initialise) a data directory: database, blob store and keys. Used by serve and `token create`. */
export async function openGatewayData(dataDir: string, clock: Clock = systemClock): Promise<{ db: Db; auth: Auth; adminToken: string; secretKey: Buffer; modesFixed: number }> {
  await fsp.mkdir(dataDir, { recursive: true, mode: PRIVATE_DIR_MODE });
  await fsp.chmod(dataDir, PRIVATE_DIR_MODE);
  const modesFixed = await privatizeTree(dataDir);
  const dbFile = path.join(dataDir, 'gateway.db');
  await touchPrivate(dbFile);
  const db = openDatabase(dbFile);
  const auth = new Auth(db, () => clock.now());
  auth.ensureTenant(DEFAULT_TENANT);
  const tokenFile = path.join(dataDir, 'admin-token');
  let adminToken = (await loadOrCreate(tokenFile, () => auth.createToken(DEFAULT_TENANT, ADMIN_PRINCIPAL))).toString('utf8').trim();
  if (!auth.isValid(adminToken)) {
    adminToken = auth.createToken(DEFAULT_TENANT, ADMIN_PRINCIPAL);
    await writePrivate(tokenFile, adminToken);
  }
  const secretKey = await loadOrCreate(path.join(dataDir, 'secret.key'), () => randomBytes(32));
  // SQLite gives -wal/-shm the database file's mode; make sure of it for ones left by an old run.
  for (const f of [`${dbFile}-wal`, `${dbFile}-shm`]) await fsp.chmod(f, PRIVATE_FILE_MODE).catch(() => undefined);
  return { db, auth, adminToken, secretKey: secretKey.subarray(0, 32), modesFixed };
}

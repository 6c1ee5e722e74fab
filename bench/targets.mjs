// Benchmark targets for the peer comparisons: one working directory per system — native disk,
// sshfs, rclone and Aether — with the same small interface, so a scenario runs identical commands
// on each and asks each the same questions:
//   dir                 where the workload runs
//   remount({cold})     unmount and mount again (cold: with an empty local cache), native: no-op
//   shippedAt(rel, expected, t0)  the "shipping lag": polls the system's far side (the sftp
//                       server's backing directory, the Aether gateway's manifest) until the
//                       subtree `rel` matches `expected` (paths, types, sizes; see treeState),
//                       resolves {ms since t0, ok}. Works for any upload strategy: ~0 for a mount
//                       that uploads at close, the queue delay for a write-back cache or overlay.
//   ownReference        compare the far side with this target's own mount view, not native's tree
//   gitConfig, note     extra `git -c` options this target needs, and why
//   stats()             the Aether daemon's counters (control `status`), else undefined
//   stop()              unmount and stop everything this target started
// Invariants: a target that failed to start is reported with a reason and never half-registered;
// stop() is idempotent; every wait is bounded. Callers: bench/scenarios/{nodemodules,gitrepo,treeread}.mjs.
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { startSshd, mountSshfs, startRcloneSftp, mountRclone } from './peers.mjs';

/** Poll the far side at most this long for the shipping lag. */
export const LAG_LIMIT_MS = 120_000;
const LAG_POLL_MS = 100;

/**
 * The shape of a subtree: Map of '/'-rooted path → 'd' | 'f:<size>' (a symlink: 'f:<target
 * length>', so a peer without symlinks, where git writes them as files, still matches), the subtree
 * root included. A missing root gives an empty map.
 */
export async function treeState(base, rel) {
  const out = new Map();
  const walk = async (abs, key) => {
    let st;
    try {
      st = await fsp.lstat(abs);
    } catch {
      return;
    }
    if (st.isDirectory()) {
      out.set(key, 'd');
      let names = [];
      try {
        names = await fsp.readdir(abs);
      } catch {
        return;
      }
      for (const n of names) await walk(path.join(abs, n), `${key}/${n}`);
    } else out.set(key, `f:${st.size}`); // a symlink counts as a file of its target's length (see gatewayState)
  };
  await walk(path.join(base, rel), `/${rel}`);
  return out;
}

/** The entries that differ between two treeState maps: [path, have, want]. */
export function stateDiff(have, want) {
  const d = [];
  for (const [k, v] of have) if (want.get(k) !== v) d.push([k, v, want.get(k) ?? 'absent']);
  for (const [k, v] of want) if (!have.has(k)) d.push([k, 'absent', v]);
  return d;
}

async function pollUntil(read, expected, t0) {
  for (;;) {
    const diff = stateDiff(await read(), expected);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (diff.length === 0) return { ms, ok: true };
    if (ms > LAG_LIMIT_MS) return { ms, ok: false, differing: diff.length, sample: diff.slice(0, 5).map(([k, h, w]) => `${k}: ${h}, native ${w}`) };
    await new Promise((r) => setTimeout(r, LAG_POLL_MS));
  }
}

export function nativeTarget(env, name = 'native') {
  const dir = path.join(env.root, `${name}-work`);
  return {
    name: 'native',
    dir,
    async start() {
      await fsp.mkdir(dir, { recursive: true });
    },
    async remount() {},
    shippedAt: undefined,
    async stats() {},
    async stop() {},
  };
}

/**
 * A peer served over sftp from a local backing dir: `startServer()` starts the server,
 * `mount(server)` the FUSE client (returns {stop()}), `clearCache()` empties its local cache for a
 * cold remount. The backing dir is the far side the shipping lag polls.
 */
function sftpPeer(env, name, { startServer, mount, clearCache, ...extra }) {
  const base = path.join(env.root, name);
  const backing = path.join(base, 'backing');
  const mnt = path.join(base, 'mnt');
  let server;
  let m;
  const ctx = { base, backing, mnt };
  return {
    name,
    dir: mnt,
    backing,
    ...extra,
    async start() {
      server = await startServer(ctx);
      m = await mount(server, ctx);
    },
    async remount({ cold = false } = {}) {
      await m.stop();
      if (cold) await clearCache?.(ctx);
      m = await mount(server, ctx);
    },
    shippedAt: (rel, expected, t0) => pollUntil(() => treeState(backing, rel), expected, t0),
    async stats() {},
    async stop() {
      await m?.stop();
      m = undefined;
      await server?.stop();
      server = undefined;
    },
  };
}

/** sshfs keeps no cache across mounts: cold and warm remounts are the same. */
export const sshfsTarget = (env) =>
  sftpPeer(env, 'sshfs', {
    startServer: ({ base }) => startSshd(path.join(base, 'sshd')),
    mount: (sshd, { base, backing, mnt }) => mountSshfs(sshd, backing, mnt, path.join(base, 'sshfs.log')),
  });

export const rcloneTarget = (env) =>
  sftpPeer(env, 'rclone', {
    startServer: ({ base, backing }) => startRcloneSftp(path.join(base, 'serve'), backing),
    mount: (server, { base, mnt }) => mountRclone(server, mnt, path.join(base, 'vfs-cache'), base, path.join(base, 'rclone-mount.log')),
    clearCache: ({ base }) => fsp.rm(path.join(base, 'vfs-cache'), { recursive: true, force: true }),
    note: 'rclone 1.60 mount has no symlinks: git runs with core.symlinks=false there',
    gitConfig: '-c core.symlinks=false',
    ownReference: true,
  });

/** The gateway's view of a subtree, in treeState's shape. */
async function gatewayState(env, sessionId, rel) {
  const out = new Map();
  let token = '';
  for (let page = 0; page < 1000; page++) {
    const q = new URLSearchParams({ pathPrefix: `/${rel}`, pageSize: '10000', ...(token ? { pageToken: token } : {}) });
    const r = await env.call('GET', `/v1/sessions/${sessionId}/manifest?${q}`);
    for (const n of r.nodes ?? []) {
      out.set(n.path, n.fileType === 'VFS_FILE_TYPE_DIRECTORY' ? 'd' : `f:${n.sizeBytes}`);
    }
    token = r.nextPageToken ?? '';
    if (!token) break;
  }
  return out;
}

/**
 * An Aether mount of a fresh session. AETHER_BENCH_MOUNT_OPTS (JSON) adds daemon options, e.g. to
 * measure a mode flag; remount({cold}) starts over with an empty CAS cache dir.
 */
export function aetherTarget(env, name) {
  let sessionId;
  let m;
  let cacheGen = 0;
  const cacheDir = () => path.join(env.root, `aether-${name}-cache-${cacheGen}`);
  const extra = process.env.AETHER_BENCH_MOUNT_OPTS ? JSON.parse(process.env.AETHER_BENCH_MOUNT_OPTS) : {};
  const mount = async () => (m = await env.mount(sessionId, `aether-${name}`, { cacheDir: cacheDir(), ...extra }));
  const t = {
    name: 'aether',
    get dir() {
      return path.join(env.root, `aether-${name}`);
    },
    get sessionId() {
      return sessionId;
    },
    async start() {
      sessionId = await env.createSession({ bench: name });
      await mount();
    },
    async remount({ cold = false } = {}) {
      await m.stop();
      if (cold) cacheGen++;
      await mount();
    },
    // AETHER_BENCH_LAG=sync: ask the daemon to ship everything first (control `sync`, what
    // `aether sync` does), then check the gateway: the lag of an explicit barrier instead of the
    // background shipper's.
    async shippedAt(rel, expected, t0) {
      if (process.env.AETHER_BENCH_LAG === 'sync') await m.control('sync', {}, LAG_LIMIT_MS);
      return pollUntil(() => gatewayState(env, sessionId, rel), expected, t0);
    },
    /** Daemon counters (listings, blobs fetched, uploads, …) from the control socket. */
    async stats() {
      return m ? m.control('status', {}, 30_000).catch(() => undefined) : undefined;
    },
    async stop() {
      await m?.stop();
      m = undefined;
    },
  };
  return t;
}

/** The targets for a scenario: native, the available peers, Aether. */
export function makeTargets(env, name, peers) {
  const list = [nativeTarget(env, name)];
  if (peers.sshfs?.ok) list.push(sshfsTarget(env));
  if (peers.rclone?.ok) list.push(rcloneTarget(env));
  list.push(aetherTarget(env, name));
  return list;
}

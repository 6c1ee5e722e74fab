// Peer file systems for the benchmarks: sshfs over a throwaway loopback sshd, and `rclone mount
// --vfs-cache-mode full` over a loopback `rclone serve sftp`. This module installs the Debian
// packages when they are missing (apt, never the `fuse` package: it conflicts with fuse3), starts
// the servers on free 127.0.0.1 ports with keys generated in a temp dir, mounts, and tears all of it
// down again. Invariants: every server and mount this module starts is registered with the owner's
// `cleanup` list and stopped by it (bench/run.mjs calls it in `finally` and on SIGINT/SIGTERM);
// every wait is bounded; nothing listens beyond 127.0.0.1.
// Callers: bench/targets.mjs (peer targets), bench/run.mjs (installPeers).
import { spawn, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as net from 'node:net';
import * as path from 'node:path';
import { detach, sh, stopChild } from './lib.mjs';

export const PEERS = ['sshfs', 'rclone'];

const PACKAGES = { sshfs: ['sshfs', 'openssh-server'], rclone: ['rclone'] };
const SSHD = '/usr/sbin/sshd';

function have(bin) {
  try {
    execFileSync('/bin/sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const present = { sshfs: () => have('sshfs') && fs.existsSync(SSHD), rclone: () => have('rclone') };

/**
 * Make the named peers available: install missing Debian packages with apt-get (root only), after
 * checking with a simulated install that apt would not pull in the `fuse` package. Returns
 * {name: {ok: true} | {ok: false, reason}}; never throws for an uninstallable peer.
 */
export async function installPeers(names, log) {
  const out = {};
  const missing = names.filter((n) => !present[n]());
  for (const n of names) if (!missing.includes(n)) out[n] = { ok: true };
  if (missing.length === 0) return out;
  const fail = (reason) => {
    for (const n of missing) out[n] = { ok: false, reason };
    return out;
  };
  if (process.getuid?.() !== 0) return fail('not installed, and installing needs root');
  if (!have('apt-get')) return fail('not installed, and no apt-get');
  const pkgs = [...new Set(missing.flatMap((n) => PACKAGES[n]))];
  const aptEnv = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let sim;
  try {
    sim = (await sh(`apt-get install -s --no-install-recommends ${pkgs.join(' ')}`, { env: aptEnv, timeoutMs: 120_000 })).out;
  } catch (e) {
    // Package lists may be missing in a fresh container: refresh once, then simulate again.
    try {
      await sh('apt-get update -q', { env: aptEnv, timeoutMs: 300_000 });
      sim = (await sh(`apt-get install -s --no-install-recommends ${pkgs.join(' ')}`, { env: aptEnv, timeoutMs: 120_000 })).out;
    } catch (e2) {
      return fail(`apt-get cannot install ${pkgs.join(' ')}: ${String(e2.message).split('\n')[0]}`);
    }
  }
  if (/^Inst fuse /m.test(sim)) return fail(`apt would install the \`fuse\` package (conflicts with fuse3); not installing ${pkgs.join(' ')}`);
  // Keep the package scripts from starting a system-wide sshd (port 22): a policy-rc.d that
  // forbids service starts, only for the duration of the install, only if there is none already.
  const policy = '/usr/sbin/policy-rc.d';
  const ownPolicy = !fs.existsSync(policy);
  if (ownPolicy) fs.writeFileSync(policy, '#!/bin/sh\n# written by aether bench/peers.mjs during apt-get install\nexit 101\n', { mode: 0o755 });
  try {
    log(`installing peers: apt-get install ${pkgs.join(' ')}…`);
    await sh(`apt-get install -y -q --no-install-recommends ${pkgs.join(' ')}`, { env: aptEnv, timeoutMs: 600_000 });
  } catch (e) {
    return fail(`apt-get install ${pkgs.join(' ')} failed: ${String(e.message).split('\n').slice(-2).join(' ')}`);
  } finally {
    if (ownPolicy) fs.rmSync(policy, { force: true });
  }
  for (const n of missing) out[n] = present[n]() ? { ok: true } : { ok: false, reason: 'installed, but its binary is still missing' };
  return out;
}

/** A free TCP port on 127.0.0.1 (bound and released; the caller binds it right after). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Resolve once 127.0.0.1:port accepts a connection; reject after timeoutMs. */
async function waitPort(port, what, timeoutMs, child) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (child && child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode} before it listened`);
    const ok = await new Promise((r) => {
      const c = net.connect(port, '127.0.0.1');
      c.once('connect', () => (c.destroy(), r(true)));
      c.once('error', () => r(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`${what} did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function isMounted(mountpoint) {
  const mp = path.resolve(mountpoint);
  return fs
    .readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[1] === mp);
}

async function waitMounted(mountpoint, what, timeoutMs, child, logFile) {
  const end = Date.now() + timeoutMs;
  while (!isMounted(mountpoint)) {
    const tail = () => (logFile ? `\n${fs.readFileSync(logFile, 'utf8').slice(-1500)}` : '');
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${what} exited (${child.exitCode ?? child.signalCode}) before mounting${tail()}`);
    if (Date.now() > end) throw new Error(`${what} did not mount ${mountpoint} within ${timeoutMs} ms${tail()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// Last line of defence: peer processes outlive a runner that dies without its teardown (an uncaught
// error, process.exit), so every child started here is SIGKILLed and its mount detached on exit.
const live = new Map(); // child → mountpoint | undefined
process.on('exit', () => {
  for (const [child, mp] of live) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    if (mp) detach(mp);
  }
});

function spawnLogged(cmd, args, logFile, env, mountpoint) {
  const fd = fs.openSync(logFile, 'a');
  const child = spawn(cmd, args, { stdio: ['ignore', fd, fd], env: env ?? process.env });
  fs.closeSync(fd);
  live.set(child, mountpoint);
  child.once('exit', () => live.delete(child));
  return child;
}

/** Start a FUSE client in the foreground; resolves the child once `mountpoint` is mounted. */
async function spawnMount(cmd, args, { logFile, mountpoint, timeoutMs, env }) {
  const child = spawnLogged(cmd, args, logFile, env, mountpoint);
  try {
    await waitMounted(mountpoint, cmd, timeoutMs, child, logFile);
  } catch (e) {
    await stopChild(child, 2000);
    detach(mountpoint);
    throw e;
  }
  return child;
}

/**
 * A throwaway sshd on 127.0.0.1:<free port> with its own host key and a generated user key, all
 * in `dir`. Returns {port, keyFile, user, stop()}.
 */
export async function startSshd(dir) {
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  const hostKey = path.join(dir, 'host_ed25519');
  const keyFile = path.join(dir, 'id_ed25519');
  await sh(`ssh-keygen -q -t ed25519 -N '' -f ${hostKey} && ssh-keygen -q -t ed25519 -N '' -f ${keyFile}`);
  const authorized = path.join(dir, 'authorized_keys');
  await fsp.copyFile(`${keyFile}.pub`, authorized);
  await fsp.chmod(authorized, 0o600);
  await fsp.mkdir('/run/sshd', { recursive: true, mode: 0o755 }); // sshd's privilege-separation dir
  const port = await freePort();
  const sftpServer = ['/usr/lib/openssh/sftp-server', '/usr/libexec/sftp-server'].find((p) => fs.existsSync(p)) ?? 'internal-sftp';
  const config = path.join(dir, 'sshd_config');
  const user = process.env.USER || 'root';
  await fsp.writeFile(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${authorized}`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      `AllowUsers ${user}`,
      `Subsystem sftp ${sftpServer}`,
      '',
    ].join('\n'),
  );
  const child = spawnLogged(SSHD, ['-D', '-e', '-f', config], path.join(dir, 'sshd.log'));
  try {
    await waitPort(port, 'sshd', 15_000, child);
  } catch (e) {
    await stopChild(child, 2000);
    throw new Error(`${e.message}\n${fs.readFileSync(path.join(dir, 'sshd.log'), 'utf8').slice(-1500)}`);
  }
  return { port, keyFile, user, stop: () => stopChild(child, 5000) };
}

/** Does this sshfs accept `-o no_contain_symlinks`? (Debian's 3.7.3 needs it for relative links.) */
function sshfsOptions() {
  let help = '';
  try {
    help = execFileSync('sshfs', ['--help'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    help = `${e.stdout ?? ''}${e.stderr ?? ''}`;
  }
  return help.includes('no_contain_symlinks') ? ['no_contain_symlinks'] : [];
}

/**
 * sshfs of `backing` (a local directory served by `sshd`) at `mountpoint`, in the foreground as a
 * child. Returns {mountpoint, stop()}.
 */
export async function mountSshfs(sshd, backing, mountpoint, logFile) {
  await fsp.mkdir(backing, { recursive: true });
  await fsp.mkdir(mountpoint, { recursive: true });
  const o = [
    `IdentityFile=${sshd.keyFile}`,
    'StrictHostKeyChecking=no',
    'UserKnownHostsFile=/dev/null',
    'LogLevel=ERROR',
    'BatchMode=yes',
    ...sshfsOptions(),
  ];
  const child = await spawnMount('sshfs', ['-f', '-p', String(sshd.port), '-o', o.join(','), `${sshd.user}@127.0.0.1:${backing}`, mountpoint], { logFile, mountpoint, timeoutMs: 30_000 });
  return {
    mountpoint,
    async stop() {
      await sh(`fusermount3 -u ${mountpoint}`, { timeoutMs: 60_000 }).catch(() => undefined);
      await stopChild(child, 10_000);
      if (isMounted(mountpoint)) detach(mountpoint);
    },
  };
}

/**
 * `rclone serve sftp` of `backing` on 127.0.0.1:<free port>, authenticated with a generated key.
 * Returns {port, keyFile, stop()}.
 */
export async function startRcloneSftp(dir, backing) {
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  await fsp.mkdir(backing, { recursive: true });
  const keyFile = path.join(dir, 'id_ed25519');
  const hostKey = path.join(dir, 'host_ed25519');
  await sh(`ssh-keygen -q -t ed25519 -N '' -f ${keyFile} && ssh-keygen -q -t ed25519 -N '' -f ${hostKey}`);
  const config = path.join(dir, 'rclone.conf');
  await fsp.writeFile(config, '');
  const port = await freePort();
  const child = spawnLogged(
    'rclone',
    ['serve', 'sftp', backing, '--addr', `127.0.0.1:${port}`, '--authorized-keys', `${keyFile}.pub`, '--key', hostKey, '--config', config, '--cache-dir', path.join(dir, 'serve-cache')],
    path.join(dir, 'rclone-serve.log'),
  );
  try {
    await waitPort(port, 'rclone serve sftp', 30_000, child);
  } catch (e) {
    await stopChild(child, 2000);
    throw new Error(`${e.message}\n${fs.readFileSync(path.join(dir, 'rclone-serve.log'), 'utf8').slice(-1500)}`);
  }
  return { port, keyFile, config, stop: () => stopChild(child, 10_000) };
}

/**
 * `rclone mount --vfs-cache-mode full` of the sftp server at `mountpoint`; `cacheDir` holds the VFS
 * cache (keep it for a warm remount, empty it for a cold one). rclone's FUSE library runs
 * `fusermount`; Debian ships only fusermount3 (the `fuse` package must not be installed), so a
 * private PATH entry points `fusermount` at fusermount3 for this child alone.
 */
export async function mountRclone(server, mountpoint, cacheDir, dir, logFile) {
  await fsp.mkdir(mountpoint, { recursive: true });
  await fsp.mkdir(cacheDir, { recursive: true });
  const bin = path.join(dir, 'bin');
  await fsp.mkdir(bin, { recursive: true });
  const shim = path.join(bin, 'fusermount');
  if (!have('fusermount') && !fs.existsSync(shim)) await fsp.symlink('/usr/bin/fusermount3', shim);
  const remote = `:sftp,host=127.0.0.1,port=${server.port},user=bench,key_file=${server.keyFile},shell_type=none:`;
  const child = await spawnMount('rclone', ['mount', remote, mountpoint, '--vfs-cache-mode', 'full', '--cache-dir', cacheDir, '--config', server.config, '--log-level', 'NOTICE'], {
    logFile,
    mountpoint,
    timeoutMs: 60_000,
    env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
  });
  return {
    mountpoint,
    cacheDir,
    /** SIGTERM lets rclone write back its VFS cache and unmount; bounded, then forced. */
    async stop() {
      await stopChild(child, 120_000);
      if (isMounted(mountpoint)) detach(mountpoint);
    },
  };
}

// Real processes for mount tests: a gateway and mount daemons, each in its own process so the test
// process may block (execSync) without starving the servers. Every start registers a teardown.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createInterface } from 'node:readline';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const DIST = path.join(ROOT, 'dist');

export const hasFuse = fs.existsSync('/dev/fuse');

function firstLine(child: ChildProcess, what: string, timeoutMs = 30_000): Promise<any> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => reject(new Error(`${what} did not start within ${timeoutMs} ms`)), timeoutMs);
    rl.once('line', (line) => {
      clearTimeout(timer);
      rl.close();
      try {
        resolve(JSON.parse(line));
      } catch {
        reject(new Error(`${what} printed: ${line}`));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code} before it was ready`));
    });
  });
}

export interface GatewayProc {
  url: string;
  token: string;
  dataDir: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

export async function startGatewayProcess(dataDir: string): Promise<GatewayProc> {
  const script = `
    const m = await import(${JSON.stringify(path.join(DIST, 'gateway', 'server.js'))});
    const l = await import(${JSON.stringify(path.join(DIST, 'shared', 'log.js'))});
    const logger = l.createLogger((line) => process.stderr.write(line), 'info');
    const g = await m.startGateway({ dataDir: ${JSON.stringify(dataDir)}, port: 0, logger });
    console.log(JSON.stringify({ url: g.url, token: g.token }));
    const stop = async () => { await g.close(); process.exit(0); };
    process.on('SIGTERM', stop); process.on('SIGINT', stop);
  `;
  const log = fs.openSync(path.join(dataDir, '..', `gateway-${Date.now()}.log`), 'a');
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', log] });
  const info = await firstLine(child, 'gateway');
  return {
    url: info.url,
    token: info.token,
    dataDir,
    child,
    stop: () => stopChild(child),
  };
}

function stopChild(child: ChildProcess, timeoutMs = 20_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

export interface MountProc {
  mountpoint: string;
  record: any;
  child: ChildProcess;
  logFile: string;
  /** SIGTERM: flush and unmount. */
  stop(): Promise<void>;
  /** SIGKILL, then detach the dead mount. */
  kill9(): Promise<void>;
}

export interface MountSpec {
  home: string;
  gatewayUrl: string;
  token: string;
  sessionId: string;
  mountpoint: string;
  cacheDir?: string;
  cacheBytes?: number;
  readOnly?: boolean;
  /** FUSE allow_other (the daemon's default: on when running as root). */
  allowOther?: boolean;
  /** 'fuse3' | 'fuse-native' (default: AETHER_FUSE_BINDING, else automatic). */
  binding?: string;
  /** Mount mode (default: AETHER_MOUNT_MODE of the test run, else write-through). */
  mode?: 'overlay' | 'write-through';
  /** Extra environment for the daemon. */
  env?: Record<string, string>;
}

/** The mount mode this test run exercises (AETHER_MOUNT_MODE=overlay runs every mount test local-first). */
export const testMountMode: 'overlay' | 'write-through' = process.env.AETHER_MOUNT_MODE === 'overlay' ? 'overlay' : 'write-through';

export function detach(mountpoint: string): void {
  for (const [cmd, args] of [['fusermount3', ['-uz', mountpoint]], ['fusermount', ['-uz', mountpoint]], ['umount', ['-l', mountpoint]]] as const) {
    try {
      execFileSync(cmd, [...args], { stdio: 'ignore' });
      return;
    } catch {
      /* next */
    }
  }
}

export async function startMountProcess(spec: MountSpec): Promise<MountProc> {
  fs.mkdirSync(spec.mountpoint, { recursive: true });
  const logFile = path.join(spec.home, `mount-${path.basename(spec.mountpoint)}-${Date.now()}.log`);
  const log = fs.openSync(logFile, 'a');
  const opts = {
    home: spec.home,
    gatewayUrl: spec.gatewayUrl,
    sessionId: spec.sessionId,
    mountpoint: spec.mountpoint,
    cacheDir: spec.cacheDir ?? path.join(spec.home, 'cache', 'cas'),
    cacheBytes: spec.cacheBytes ?? 4 * 1024 ** 3,
    readOnly: spec.readOnly ?? false,
    ...(spec.allowOther !== undefined ? { allowOther: spec.allowOther } : {}),
    ...(spec.binding !== undefined ? { binding: spec.binding } : {}),
    logFile,
    mode: spec.mode ?? testMountMode,
  };
  const child = spawn(process.execPath, [path.join(DIST, 'cli', 'daemon', 'daemon-entry.js'), JSON.stringify(opts)], {
    stdio: ['ignore', 'pipe', log],
    env: { ...process.env, AETHER_DAEMON_TOKEN: spec.token, AETHER_LOG: process.env.AETHER_LOG ?? 'info', ...(spec.env ?? {}) },
  });
  const info = await firstLine(child, 'mount daemon', 60_000).catch((e) => {
    child.kill('SIGKILL');
    throw new Error(`${e.message}\n--- daemon log ---\n${fs.readFileSync(logFile, 'utf8')}`);
  });
  if (!info.ready) throw new Error(`mount failed: ${JSON.stringify(info.error)}\n${fs.readFileSync(logFile, 'utf8')}`);
  return {
    mountpoint: spec.mountpoint,
    record: info,
    child,
    logFile,
    async stop() {
      await stopChild(child, 60_000);
      detach(spec.mountpoint);
    },
    async kill9() {
      child.kill('SIGKILL');
      await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(undefined) : child.once('exit', r)));
    },
  };
}

// The checks behind `aether doctor`: can this machine mount (FUSE device, fusermount, libfuse) and
// can the CLI reach its gateway with a valid token. Each failed check carries a concrete fix.
// Probes are injected (DoctorProbes) so the checks run against fakes in unit tests.
// Invariants: never starts the embedded gateway; never prints a token.
// Callers: cli/commands/doctor.ts, tests.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { ErrorKind } from '../shared/errors.js';

export type CheckStatus = 'ok' | 'fail' | 'warn' | 'skip';

export interface DoctorCheck {
  /** Stable id: fuse-device, fusermount, libfuse, config-file, gateway, token. */
  name: string;
  status: CheckStatus;
  detail: string;
  /** What to do about it (failed or warned checks). */
  fix?: string;
  /** Error class of a failure, which picks the exit code. */
  kind?: ErrorKind;
}

/** System probes (real ones in `systemProbes`). */
export interface DoctorProbes {
  /** fs.stat-like: undefined when missing. */
  stat(p: string): Promise<{ isCharacterDevice(): boolean; mode: number } | undefined>;
  /** Can we open it read-write? */
  canReadWrite(p: string): Promise<boolean>;
  /** Absolute path of an executable on PATH, or undefined. */
  which(cmd: string): Promise<string | undefined>;
  /** Output of `ldconfig -p`, or undefined when unavailable. */
  ldconfig(): Promise<string | undefined>;
  /** Does a file exist? */
  exists(p: string): Promise<boolean>;
}

export function systemProbes(env: Record<string, string | undefined>): DoctorProbes {
  return {
    stat: async (p) => {
      try {
        return await fsp.stat(p);
      } catch {
        return undefined;
      }
    },
    canReadWrite: async (p) => {
      try {
        await fsp.access(p, fs.constants.R_OK | fs.constants.W_OK);
        return true;
      } catch {
        return false;
      }
    },
    which: async (cmd) => {
      for (const dir of (env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
        const full = path.join(dir, cmd);
        try {
          await fsp.access(full, fs.constants.X_OK);
          return full;
        } catch {
          // Next directory.
        }
      }
      return undefined;
    },
    ldconfig: () =>
      new Promise((resolve) => {
        const candidates = ['/sbin/ldconfig', '/usr/sbin/ldconfig', 'ldconfig'];
        const tryNext = (i: number) => {
          if (i >= candidates.length) return resolve(undefined);
          execFile(candidates[i]!, ['-p'], { timeout: 5000, maxBuffer: 8 * 1024 * 1024 }, (err, stdout) => (err ? tryNext(i + 1) : resolve(stdout)));
        };
        tryNext(0);
      }),
    exists: async (p) => {
      try {
        await fsp.access(p);
        return true;
      } catch {
        return false;
      }
    },
  };
}

const LIB_DIRS = ['/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/lib/aarch64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/lib64', '/usr/lib64', '/lib', '/usr/lib', '/usr/local/lib'];

/** FUSE prerequisites: the device, fusermount, libfuse. */
export async function fuseChecks(probes: DoctorProbes, platform: NodeJS.Platform = process.platform): Promise<DoctorCheck[]> {
  if (platform !== 'linux') {
    return [{ name: 'fuse-device', status: 'warn', detail: `${platform}: Aether mounts are supported on Linux only`, fix: 'use a Linux machine or VM for `aether mount`; every other command works here' }];
  }
  const checks: DoctorCheck[] = [];
  const dev = await probes.stat('/dev/fuse');
  if (!dev) {
    checks.push({
      name: 'fuse-device',
      status: 'fail',
      kind: 'internal',
      detail: '/dev/fuse does not exist',
      fix: 'load the kernel module (sudo modprobe fuse); in a container run with --device /dev/fuse --cap-add SYS_ADMIN',
    });
  } else if (!dev.isCharacterDevice()) {
    checks.push({ name: 'fuse-device', status: 'fail', kind: 'internal', detail: '/dev/fuse is not a character device', fix: 'recreate it: sudo mknod /dev/fuse c 10 229 && sudo chmod 666 /dev/fuse' });
  } else if (!(await probes.canReadWrite('/dev/fuse'))) {
    checks.push({ name: 'fuse-device', status: 'fail', kind: 'internal', detail: '/dev/fuse is not readable and writable by this user', fix: 'sudo chmod 666 /dev/fuse, or add yourself to the group owning it (often "fuse")' });
  } else {
    checks.push({ name: 'fuse-device', status: 'ok', detail: '/dev/fuse is available' });
  }

  const fm3 = await probes.which('fusermount3');
  const fm = await probes.which('fusermount');
  if (fm3 || fm) checks.push({ name: 'fusermount', status: 'ok', detail: [fm3, fm].filter(Boolean).join(', ') });
  else checks.push({ name: 'fusermount', status: 'fail', kind: 'internal', detail: 'neither fusermount3 nor fusermount is on PATH', fix: 'install it: sudo apt-get install fuse3 (Debian/Ubuntu) or sudo dnf install fuse3 (Fedora)' });

  const ld = await probes.ldconfig();
  let lib: string | undefined;
  if (ld) {
    const m = /(libfuse\.so\.2|libfuse3\.so\.3)\b[^\n]*=>\s*(\S+)/.exec(ld);
    if (m) lib = m[2];
  }
  if (!lib) {
    for (const dir of LIB_DIRS) {
      for (const name of ['libfuse.so.2', 'libfuse3.so.3']) {
        const p = path.join(dir, name);
        if (await probes.exists(p)) {
          lib = p;
          break;
        }
      }
      if (lib) break;
    }
  }
  if (lib) checks.push({ name: 'libfuse', status: 'ok', detail: lib });
  else checks.push({ name: 'libfuse', status: 'fail', kind: 'internal', detail: 'libfuse (libfuse.so.2 or libfuse3.so.3) not found', fix: 'install it: sudo apt-get install libfuse2 fuse3 (Debian/Ubuntu) or sudo dnf install fuse-libs fuse3-libs' });
  return checks;
}

/** The conf file holds tokens: it must not be readable by others. */
export async function configFileCheck(configFile: string): Promise<DoctorCheck> {
  try {
    const st = await fsp.stat(configFile);
    const mode = st.mode & 0o777;
    if (mode & 0o077) {
      return { name: 'config-file', status: 'fail', kind: 'auth', detail: `${configFile} has mode ${mode.toString(8)} (readable by others; it may hold tokens)`, fix: `chmod 600 ${configFile}` };
    }
    return { name: 'config-file', status: 'ok', detail: `${configFile} (mode ${mode.toString(8)})` };
  } catch {
    return { name: 'config-file', status: 'skip', detail: 'no config file yet (no profiles)' };
  }
}

/** How `aether doctor` learns which FUSE binding a mount would use (real one in doctor.ts). */
export interface BindingProbe {
  /** AETHER_FUSE_BINDING as the mount daemon will see it. */
  requested: string | undefined;
  /** Where the libfuse3 addon is loaded from. */
  addonPath: string;
  /** Load the addon (throws the loader's error). */
  load(): { libfuseVersion: string; fuseUseVersion: number };
}

const REBUILD = (root: string) =>
  `build it for this machine: cd ${root} && npm run build:native (needs libfuse3-dev, pkg-config, python3, make and a C compiler: sudo apt-get install libfuse3-dev pkg-config build-essential python3)`;

/**
 * Which binding a mount will use and why (the same rule as fuse/select-binding.ts): the libfuse3
 * addon when it loads, else fuse-native (FUSE 2). The fallback is a warning — mounts work, but
 * kernel locks stay local and remote changes show up later — with the way to the fast one.
 */
export function bindingCheck(p: BindingProbe): DoctorCheck {
  const want = (p.requested ?? '').trim().toLowerCase();
  // <root>/native/build/Release/aether_fuse3.node → <root>
  const root = path.resolve(path.dirname(p.addonPath), '..', '..', '..');
  if (want === 'fuse-native') {
    return { name: 'fuse-binding', status: 'warn', detail: 'mounts use fuse-native (FUSE 2): forced by AETHER_FUSE_BINDING=fuse-native', fix: 'unset AETHER_FUSE_BINDING to use the libfuse3 binding (kernel locks shared through the gateway, exact cache invalidation)' };
  }
  if (want && want !== 'fuse3' && want !== 'auto') {
    return { name: 'fuse-binding', status: 'fail', kind: 'usage', detail: `AETHER_FUSE_BINDING=${p.requested} is not a binding: mounts will refuse to start`, fix: 'use AETHER_FUSE_BINDING=fuse3, fuse-native or auto (or unset it)' };
  }
  let reason: string;
  try {
    const n = p.load();
    return { name: 'fuse-binding', status: 'ok', detail: `mounts use the libfuse3 binding (libfuse ${n.libfuseVersion}, API ${n.fuseUseVersion}) from ${p.addonPath}` };
  } catch (e) {
    reason = (e instanceof Error ? e.message : String(e)).split('\n')[0]!;
  }
  let fix: string;
  if (/cannot find module|ENOENT|no such file/i.test(reason) && reason.includes('aether_fuse3')) fix = `this copy has no libfuse3 addon; ${REBUILD(root)}`;
  else if (/libfuse3\.so/.test(reason)) fix = 'install the libfuse3 runtime: sudo apt-get install fuse3 (Debian/Ubuntu) or sudo dnf install fuse3-libs (Fedora)';
  else if (/undefined symbol|version `|GLIBC|wrong ELF|invalid ELF/i.test(reason)) fix = `the prebuilt addon (linux-x64, glibc, built against libfuse ≥ 3.12 or 3.5) does not fit this system; ${REBUILD(root)}`;
  else fix = REBUILD(root);
  const detail = `mounts use fuse-native (FUSE 2; kernel locks stay local to a mount, remote changes appear within ~1 s) because the libfuse3 addon does not load: ${reason}`;
  if (want === 'fuse3') return { name: 'fuse-binding', status: 'fail', kind: 'internal', detail: `AETHER_FUSE_BINDING=fuse3 but the libfuse3 addon does not load: ${reason}`, fix };
  return { name: 'fuse-binding', status: 'warn', detail, fix };
}

/**
 * The embedded gateway needs better-sqlite3's native addon, which npm builds or downloads in an
 * install script; a policy that blocked the script leaves the package without it.
 * `open` opens an in-memory database and returns the SQLite version (throws when it cannot).
 */
export async function sqliteCheck(open: () => Promise<string>, embedded: boolean): Promise<DoctorCheck> {
  if (!embedded) return { name: 'sqlite', status: 'skip', detail: 'a remote gateway is configured (the embedded one, which needs SQLite, is not used)' };
  try {
    return { name: 'sqlite', status: 'ok', detail: `the embedded gateway's SQLite loads (better-sqlite3, SQLite ${await open()})` };
  } catch (e) {
    const reason = (e instanceof Error ? e.message : String(e)).split('\n')[0]!;
    return {
      name: 'sqlite',
      status: 'fail',
      kind: 'internal',
      detail: `better-sqlite3's native addon does not load, so the embedded gateway cannot start: ${reason}`,
      fix: 'its install script did not run or failed: reinstall with npm install -g --allow-scripts=better-sqlite3,fuse-native <this package> (building from source needs python3, make and a C++ compiler), or point AETHER_URL at a running gateway',
    };
  }
}

// doctor checks against fake system probes: each failure carries a fix and an error class.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { bindingCheck, configFileCheck, fuseChecks, sqliteCheck, type DoctorProbes } from '../../../src/cli/doctor-checks.js';
import { makeTempDir } from '../../helpers/temp-dir.js';

function probes(over: Partial<DoctorProbes> = {}): DoctorProbes {
  return {
    stat: async () => ({ isCharacterDevice: () => true, mode: 0o20666 }),
    canReadWrite: async () => true,
    which: async (c) => (c === 'fusermount3' ? '/usr/bin/fusermount3' : undefined),
    ldconfig: async () => '\tlibfuse3.so.3 (libc6,x86-64) => /lib/x86_64-linux-gnu/libfuse3.so.3\n',
    exists: async () => false,
    ...over,
  };
}

describe('fuseChecks', () => {
  it('all good', async () => {
    const checks = await fuseChecks(probes(), 'linux');
    expect(checks.map((c) => [c.name, c.status])).toEqual([
      ['fuse-device', 'ok'],
      ['fusermount', 'ok'],
      ['libfuse', 'ok'],
    ]);
    expect(checks[2]!.detail).toBe('/lib/x86_64-linux-gnu/libfuse3.so.3');
  });

  it('missing device, fusermount and libfuse each fail with a fix', async () => {
    const checks = await fuseChecks(probes({ stat: async () => undefined, which: async () => undefined, ldconfig: async () => undefined }), 'linux');
    expect(checks.every((c) => c.status === 'fail' && c.fix && c.kind === 'internal')).toBe(true);
    expect(checks[0]!.fix).toMatch(/modprobe fuse|--device \/dev\/fuse/);
    expect(checks[1]!.fix).toMatch(/apt-get install fuse3/);
  });

  it('an unusable device and a library found on disk (no ldconfig)', async () => {
    const checks = await fuseChecks(probes({ canReadWrite: async () => false, ldconfig: async () => undefined, exists: async (p) => p === '/usr/lib/libfuse.so.2' }), 'linux');
    expect(checks[0]).toMatchObject({ status: 'fail', detail: expect.stringMatching(/not readable and writable/) });
    expect(checks[2]).toMatchObject({ status: 'ok', detail: '/usr/lib/libfuse.so.2' });
  });

  it('non-Linux warns instead of failing', async () => {
    const checks = await fuseChecks(probes(), 'darwin');
    expect(checks).toEqual([expect.objectContaining({ status: 'warn' })]);
  });
});

describe('configFileCheck', () => {
  it('flags a config file readable by others', async () => {
    const t = await makeTempDir();
    try {
      const f = path.join(t.dir, 'config.json');
      expect((await configFileCheck(f)).status).toBe('skip');
      await fs.writeFile(f, '{}', { mode: 0o600 });
      expect((await configFileCheck(f)).status).toBe('ok');
      await fs.chmod(f, 0o644);
      const c = await configFileCheck(f);
      expect(c).toMatchObject({ status: 'fail', kind: 'auth', fix: `chmod 600 ${f}` });
    } finally {
      await t.cleanup();
    }
  });
});

describe('bindingCheck', () => {
  const addonPath = '/opt/pkg/aether/native/build/Release/aether_fuse3.node';
  const loads = () => ({ libfuseVersion: '3.14.0', fuseUseVersion: 312 });
  const fails = (msg: string) => () => {
    throw new Error(msg);
  };

  it('reports the libfuse3 binding when the addon loads', () => {
    const c = bindingCheck({ requested: undefined, addonPath, load: loads });
    expect(c).toMatchObject({ name: 'fuse-binding', status: 'ok' });
    expect(c.detail).toMatch(/libfuse3 binding \(libfuse 3\.14\.0, API 312\) from \/opt\/pkg\/aether\/native/);
  });

  it('warns about the fuse-native fallback with the reason and how to get the fast binding', () => {
    const missing = bindingCheck({ requested: '', addonPath, load: fails(`Cannot find module '${addonPath}'`) });
    expect(missing.status).toBe('warn');
    expect(missing.detail).toMatch(/fuse-native .*because the libfuse3 addon does not load: Cannot find module/);
    expect(missing.fix).toMatch(/cd \/opt\/pkg\/aether && npm run build:native/);
    const noLib = bindingCheck({ requested: 'auto', addonPath, load: fails('libfuse3.so.3: cannot open shared object file: No such file or directory') });
    expect(noLib.fix).toMatch(/apt-get install fuse3/);
    const old = bindingCheck({ requested: undefined, addonPath, load: fails(`${addonPath}: undefined symbol: fuse_loop_cfg_create`) });
    expect(old.fix).toMatch(/prebuilt addon .* does not fit this system; build it .*npm run build:native/);
  });

  it('follows AETHER_FUSE_BINDING like the mount daemon does', () => {
    expect(bindingCheck({ requested: 'fuse-native', addonPath, load: loads })).toMatchObject({ status: 'warn', detail: expect.stringMatching(/forced by AETHER_FUSE_BINDING/) });
    expect(bindingCheck({ requested: 'fuse3', addonPath, load: fails('nope') })).toMatchObject({ status: 'fail', kind: 'internal' });
    expect(bindingCheck({ requested: 'fuse9', addonPath, load: loads })).toMatchObject({ status: 'fail', kind: 'usage' });
  });
});

describe('sqliteCheck', () => {
  it('ok when SQLite opens, skip for a remote gateway, fail with the reinstall line when the addon is missing', async () => {
    expect(await sqliteCheck(async () => '3.53.2', true)).toMatchObject({ name: 'sqlite', status: 'ok', detail: expect.stringMatching(/SQLite 3\.53\.2/) });
    expect(await sqliteCheck(async () => '3.53.2', false)).toMatchObject({ status: 'skip' });
    const bad = await sqliteCheck(async () => {
      throw new Error('Could not locate the bindings file. Tried:\n → /x/build/better_sqlite3.node');
    }, true);
    expect(bad).toMatchObject({ status: 'fail', kind: 'internal' });
    expect(bad.detail).not.toMatch(/\n/);
    expect(bad.fix).toMatch(/--allow-scripts=better-sqlite3/);
  });
});

// doctor checks against fake system probes: each failure carries a fix and an error class.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { configFileCheck, fuseChecks, type DoctorProbes } from '../../../src/cli/doctor-checks.js';
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

// Binding selection: automatic (fuse3 when the addon loads), forced by AETHER_FUSE_BINDING, and
// the errors/warnings around it.
import { describe, expect, it, vi } from 'vitest';
import * as fs from 'node:fs';
import { selectBinding, FALLBACK_WARNING } from '../../../src/fuse/select-binding.js';
import { FUSE3_ADDON_PATH } from '../../../src/fuse/fuse3-mount.js';
import type { Logger } from '../../../src/shared/log.js';

function recorder(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const rec = (level: string) => (msg: string) => void lines.push(`${level} ${msg}`);
  return { lines, debug: rec('debug'), info: rec('info'), warn: rec('warn'), error: rec('error') };
}

const built = fs.existsSync(FUSE3_ADDON_PATH);

describe('selectBinding', () => {
  it('honours an explicit fuse-native without touching the addon', () => {
    const log = recorder();
    const b = selectBinding('fuse-native', log);
    expect(b.name).toBe('fuse-native');
    expect(b.reason).toBe('requested');
    expect(log.lines).toEqual([]);
  });

  it('rejects unknown names', () => {
    expect(() => selectBinding('fuse4', recorder())).toThrow(/unknown FUSE binding/);
  });

  it.skipIf(!built)('picks the libfuse3 binding automatically when it is built, and when asked for', () => {
    const log = recorder();
    expect(selectBinding(undefined, log).name).toBe('fuse3');
    expect(selectBinding('', log).name).toBe('fuse3');
    expect(selectBinding('auto', log).name).toBe('fuse3');
    expect(selectBinding('FUSE3', log).reason).toBe('requested');
    expect(log.lines).toEqual([]);
  });

  it('falls back to fuse-native with one warning when the addon cannot load, and fails loudly when fuse3 was asked for', async () => {
    vi.resetModules();
    vi.doMock('../../../src/fuse/fuse3-mount.js', async (importOriginal) => ({
      ...(await importOriginal<typeof import('../../../src/fuse/fuse3-mount.js')>()),
      loadFuse3Native: () => {
        throw new Error('cannot open shared object file');
      },
    }));
    try {
      const { selectBinding: select } = await import('../../../src/fuse/select-binding.js');
      const log = recorder();
      const b = select(undefined, log);
      expect(b.name).toBe('fuse-native');
      expect(b.reason).toBe('fallback');
      expect(log.lines.filter((l) => l.startsWith('warn'))).toEqual([`warn ${FALLBACK_WARNING}`]);
      expect(() => select('fuse3', recorder())).toThrow(/cannot be loaded[\s\S]*cannot open shared object file/);
    } finally {
      vi.doUnmock('../../../src/fuse/fuse3-mount.js');
      vi.resetModules();
    }
  });

  it('the fallback warning is one line and says what is lost', () => {
    expect(FALLBACK_WARNING).not.toContain('\n');
    expect(FALLBACK_WARNING).toMatch(/locks are local to this mount/);
    expect(FALLBACK_WARNING).toMatch(/~1 s/);
  });
});

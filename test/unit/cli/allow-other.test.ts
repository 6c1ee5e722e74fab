// allow_other policy: on for root by default, refused for non-root without user_allow_other in
// fuse.conf (one-line UserError with a fix), and the doctor check that says which case applies.
import { describe, expect, it } from 'vitest';
import { allowOtherCheck, fuseConfAllowsOther, resolveAllowOther } from '../../../src/cli/allow-other.js';
import { AetherError } from '../../../src/shared/errors.js';

const CONF_ON = '# comment\n#user_allow_other\nmount_max = 1000\nuser_allow_other\n';
const CONF_OFF = '# Allow non-root users to specify the allow_other option.\n#user_allow_other\n';

describe('allow_other', () => {
  it('reads fuse.conf: only an uncommented user_allow_other line counts', () => {
    expect(fuseConfAllowsOther(CONF_ON)).toBe(true);
    expect(fuseConfAllowsOther(CONF_OFF)).toBe(false);
    expect(fuseConfAllowsOther('  user_allow_other   # yes\n')).toBe(true);
    expect(fuseConfAllowsOther(undefined)).toBe(false);
  });

  it('root: on by default and with --allow-other, off with --no-allow-other', () => {
    expect(resolveAllowOther(undefined, 0, undefined)).toBe(true);
    expect(resolveAllowOther(true, 0, undefined)).toBe(true);
    expect(resolveAllowOther(false, 0, CONF_ON)).toBe(false);
  });

  it('non-root: off by default; --allow-other needs user_allow_other', () => {
    expect(resolveAllowOther(undefined, 1000, CONF_ON)).toBe(false);
    expect(resolveAllowOther(true, 1000, CONF_ON)).toBe(true);
    let err: unknown;
    try {
      resolveAllowOther(true, 1000, CONF_OFF);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AetherError);
    expect((err as AetherError).code).toBe('AETHER_ALLOW_OTHER_DENIED');
    expect((err as AetherError).hint).toMatch(/user_allow_other.*\/etc\/fuse\.conf/);
  });

  it('doctor: ok for root or with user_allow_other, a warning with a fix otherwise', () => {
    expect(allowOtherCheck(0, undefined).status).toBe('ok');
    expect(allowOtherCheck(1000, CONF_ON).status).toBe('ok');
    const w = allowOtherCheck(1000, CONF_OFF);
    expect(w).toMatchObject({ name: 'allow-other', status: 'warn' });
    expect(w.detail).toMatch(/lacks user_allow_other/);
    expect(w.fix).toMatch(/user_allow_other/);
    expect(allowOtherCheck(1000, undefined).detail).toMatch(/missing/);
  });
});

// Picks the FUSE binding for a mount: our libfuse3 addon when it is built and loads (kernel locks
// shared through the gateway, exact cache invalidation), else fuse-native (FUSE 2) with a one-line
// warning. `requested` (the daemon passes AETHER_FUSE_BINDING) forces one of them so both stay
// tested: 'fuse3' fails loudly when the addon cannot load; 'fuse-native' never tries it.
// Callers: the mount daemon, tests.
import type { SessionFilesystem } from '../fs/session-fs.js';
import type { Logger } from '../shared/log.js';
import { UserError, AetherError } from '../shared/errors.js';
import { mountWithFuseNative, type MountHandle } from './fuse-native-mount.js';
import { loadFuse3Native, mountWithFuse3, FUSE3_ADDON_PATH, type Fuse3MountOptions } from './fuse3-mount.js';

export type BindingName = 'fuse3' | 'fuse-native';

export interface BindingChoice {
  name: BindingName;
  /** Why this one (for logs and `aether status`). */
  reason: string;
  mount(fs: SessionFilesystem, opts: Fuse3MountOptions): Promise<MountHandle>;
}

export const FALLBACK_WARNING = 'using fuse-native (FUSE 2): kernel locks are local to this mount; remote changes appear within ~1 s';

/** Choose a binding. `requested`: undefined/'' = automatic, 'fuse3' or 'fuse-native'. */
export function selectBinding(requested: string | undefined, log: Logger): BindingChoice {
  const want = (requested ?? '').trim().toLowerCase();
  if (want && want !== 'fuse3' && want !== 'fuse-native' && want !== 'auto') {
    throw new UserError('AETHER_FUSE_BINDING_INVALID', `unknown FUSE binding "${requested}"`, { hint: 'use AETHER_FUSE_BINDING=fuse3, fuse-native or auto' });
  }
  const native: BindingChoice = {
    name: 'fuse-native',
    reason: want === 'fuse-native' ? 'requested' : 'fallback',
    // fuse-native has no lock ops and no invalidation: it ignores `locks` and keeps short timeouts.
    mount: (fs, o) => mountWithFuseNative(fs, { mountpoint: o.mountpoint, fsname: o.fsname, readOnly: o.readOnly, allowOther: o.allowOther, debug: o.debug, logger: o.logger }),
  };
  if (want === 'fuse-native') return native;
  try {
    loadFuse3Native();
    return { name: 'fuse3', reason: want === 'fuse3' ? 'requested' : 'built', mount: mountWithFuse3 };
  } catch (e) {
    if (want === 'fuse3') {
      throw new AetherError('AETHER_FUSE3_UNAVAILABLE', `the libfuse3 binding cannot be loaded from ${FUSE3_ADDON_PATH}: ${e instanceof Error ? e.message : String(e)}`, {
        cause: e,
        hint: 'build it with `npm run build:native` (needs libfuse3-dev and pkg-config)',
      });
    }
    log.warn(FALLBACK_WARNING);
    log.debug('libfuse3 binding unavailable', { path: FUSE3_ADDON_PATH, error: e instanceof Error ? e.message : String(e) });
    return native;
  }
}

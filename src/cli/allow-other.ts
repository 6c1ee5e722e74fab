// Whether a mount serves other users (FUSE `allow_other`), decided once for `aether mount` and
// checked by `aether doctor`. Without allow_other the kernel refuses every process whose uid is
// not the mounter's (EACCES even on a 0777 directory): a user who mounts with sudo and then works
// as themselves, or a container/daemon running as another uid, cannot use the mount. With it, the
// mount also sets `default_permissions` (both bindings always do), so the kernel enforces modes,
// owners and the sticky bit for those users.
// Rules: on by default when the mounter is root; a non-root mounter may ask for it only when
// /etc/fuse.conf has `user_allow_other` (fusermount refuses otherwise), and is told so.
// Invariants: pure functions over injected facts (uid, fuse.conf text); no I/O here but readFuseConf.
// Callers: cli/commands/mount.ts, cli/commands/doctor.ts, tests.
import * as fsp from 'node:fs/promises';
import { UserError } from '../shared/errors.js';
import type { DoctorCheck } from './doctor-checks.js';

export const FUSE_CONF = '/etc/fuse.conf';

/** Does fuse.conf text enable `user_allow_other` (an uncommented line)? */
export function fuseConfAllowsOther(text: string | undefined): boolean {
  if (!text) return false;
  return text.split('\n').some((l) => l.replace(/#.*/, '').trim() === 'user_allow_other');
}

/** The text of /etc/fuse.conf, or undefined when it is missing or unreadable. */
export async function readFuseConf(file = FUSE_CONF): Promise<string | undefined> {
  return fsp.readFile(file, 'utf8').catch(() => undefined);
}

const HINT = `add the line "user_allow_other" to ${FUSE_CONF} (as root), or mount without --allow-other (then only you can use the mount)`;

/**
 * The allow_other setting of a mount: `requested` is the flag (true --allow-other, false
 * --no-allow-other, undefined = default: on for root). Throws a UserError when a non-root user
 * asks for it and fuse.conf does not permit it.
 */
export function resolveAllowOther(requested: boolean | undefined, uid: number, fuseConf: string | undefined): boolean {
  if (requested === false) return false;
  if (uid === 0) return true;
  if (requested === undefined) return false;
  if (!fuseConfAllowsOther(fuseConf)) {
    throw new UserError('AETHER_ALLOW_OTHER_DENIED', `--allow-other needs "user_allow_other" in ${FUSE_CONF} when not mounting as root`, { hint: HINT });
  }
  return true;
}

/** `aether doctor`: can mounts of this user serve other users? */
export function allowOtherCheck(uid: number, fuseConf: string | undefined): DoctorCheck {
  if (uid === 0) return { name: 'allow-other', status: 'ok', detail: 'mounting as root: mounts serve every user (allow_other, default_permissions)' };
  if (fuseConfAllowsOther(fuseConf)) return { name: 'allow-other', status: 'ok', detail: `${FUSE_CONF} has user_allow_other: \`aether mount --allow-other\` serves every user` };
  return {
    name: 'allow-other',
    status: 'warn',
    detail: `${FUSE_CONF} ${fuseConf === undefined ? 'is missing' : 'lacks user_allow_other'}: your mounts are usable by you only`,
    fix: `to let other users and containers use a mount: ${HINT.replace(', or mount without --allow-other (then only you can use the mount)', '')}, then mount with --allow-other`,
  };
}

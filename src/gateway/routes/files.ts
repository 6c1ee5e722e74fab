// Route family: filesystem mutations (dirs, files, rename, batch, patchSegments, symlinks, links, xattrs, CAS extents). (Stub: filled in by its owner.)
import type { Router } from '../http/router.js';
import type { GatewayCore } from '../core.js';

export function registerFileRoutes(_router: Router, _core: GatewayCore): void {}

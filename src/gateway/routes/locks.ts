// Route family: POSIX locks, flock and collaboration file locks. (Stub: filled in by its owner.)
import type { Router } from '../http/router.js';
import type { GatewayCore } from '../core.js';

export function registerLockRoutes(_router: Router, _core: GatewayCore): void {}

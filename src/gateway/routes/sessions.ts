// Route family: sessions, fork, checkpoints, restore. (Stub: filled in by its owner.)
import type { Router } from '../http/router.js';
import type { GatewayCore } from '../core.js';

export function registerSessionRoutes(_router: Router, _core: GatewayCore): void {}

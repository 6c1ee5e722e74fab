// Route family: git commits of a session. (Stub: filled in by its owner.)
import type { Router } from '../http/router.js';
import type { GatewayCore } from '../core.js';

export function registerCommitRoutes(_router: Router, _core: GatewayCore): void {}

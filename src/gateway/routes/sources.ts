// Route family: sources, imports, refresh, promote, jobs. (Stub: filled in by its owner.)
import type { Router } from '../http/router.js';
import type { GatewayCore } from '../core.js';

export function registerSourceRoutes(_router: Router, _core: GatewayCore): void {}

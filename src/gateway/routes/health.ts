// Route family: health, analytics and usage. (Stub: filled in by its owner.)
import type { Router } from '../http/router.js';
import type { GatewayCore } from '../core.js';

export function registerHealthRoutes(_router: Router, _core: GatewayCore): void {}

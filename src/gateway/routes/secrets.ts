// Route family: secrets. (Stub: filled in by its owner.)
import type { Router } from '../http/router.js';
import type { GatewayCore } from '../core.js';

export function registerSecretRoutes(_router: Router, _core: GatewayCore): void {}

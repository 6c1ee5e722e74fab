// Route family: the paged manifest. (Stub: filled in by its owner.)
import type { Router } from '../http/router.js';
import type { GatewayCore } from '../core.js';

export function registerManifestRoutes(_router: Router, _core: GatewayCore): void {}

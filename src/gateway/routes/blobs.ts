// Route family: raw CAS blobs and CAS metrics. (Stub: filled in by its owner.)
import type { Router } from '../http/router.js';
import type { GatewayCore } from '../core.js';

export function registerBlobRoutes(_router: Router, _core: GatewayCore): void {}

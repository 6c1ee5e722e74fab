// Route family: session cache, bus and event log. (Stub: filled in by its owner.)
import type { Router } from '../http/router.js';
import type { GatewayCore } from '../core.js';

export function registerCoordinationRoutes(_router: Router, _core: GatewayCore): void {}

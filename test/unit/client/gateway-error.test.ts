import { describe, expect, it } from 'vitest';
import { GatewayError, GatewayErrorCode, gatewayCodeForRpc, kindForRpc, rpcCodeForHttpStatus, isGatewayError } from '../../../src/client/gateway-error.js';
import { RpcCode } from '../../../src/protocol/rpc-status.js';
import { AetherError, EXIT_CODES } from '../../../src/shared/errors.js';

describe('kind mapping', () => {
  it.each([
    [RpcCode.NOT_FOUND, 'not_found'],
    [RpcCode.ALREADY_EXISTS, 'conflict'],
    [RpcCode.FAILED_PRECONDITION, 'conflict'],
    [RpcCode.ABORTED, 'conflict'],
    [RpcCode.PERMISSION_DENIED, 'auth'],
    [RpcCode.UNAUTHENTICATED, 'auth'],
    [RpcCode.INVALID_ARGUMENT, 'usage'],
    [RpcCode.UNAVAILABLE, 'network'],
    [RpcCode.DEADLINE_EXCEEDED, 'network'],
    [RpcCode.INTERNAL, 'internal'],
    [RpcCode.DATA_LOSS, 'internal'],
    [RpcCode.UNKNOWN, 'internal'],
    [RpcCode.RESOURCE_EXHAUSTED, 'internal'],
    [99, 'internal'],
  ] as const)('rpc %i → %s', (code, kind) => {
    expect(kindForRpc(code)).toBe(kind);
    expect(EXIT_CODES[kindForRpc(code)]).toBeGreaterThan(0);
  });

  it('stable code strings', () => {
    expect(gatewayCodeForRpc(RpcCode.NOT_FOUND)).toBe('AETHER_GATEWAY_NOT_FOUND');
    expect(gatewayCodeForRpc(RpcCode.ABORTED)).toBe('AETHER_GATEWAY_CONFLICT');
    expect(gatewayCodeForRpc(RpcCode.UNAUTHENTICATED)).toBe('AETHER_GATEWAY_UNAUTHENTICATED');
    expect(gatewayCodeForRpc(RpcCode.DATA_LOSS)).toBe('AETHER_GATEWAY_DATA_LOSS');
    expect(gatewayCodeForRpc(1234)).toBe('AETHER_GATEWAY_UNKNOWN');
    // Every google.rpc code 1..16 has its own stable code.
    const codes = new Set(Array.from({ length: 16 }, (_, i) => gatewayCodeForRpc(i + 1)));
    expect(codes.size).toBe(16);
  });

  it('HTTP statuses without an envelope map to plausible rpc codes', () => {
    expect(rpcCodeForHttpStatus(404)).toBe(RpcCode.NOT_FOUND);
    expect(rpcCodeForHttpStatus(401)).toBe(RpcCode.UNAUTHENTICATED);
    expect(rpcCodeForHttpStatus(403)).toBe(RpcCode.PERMISSION_DENIED);
    expect(rpcCodeForHttpStatus(503)).toBe(RpcCode.UNAVAILABLE);
    expect(rpcCodeForHttpStatus(502)).toBe(RpcCode.UNAVAILABLE);
    expect(rpcCodeForHttpStatus(504)).toBe(RpcCode.DEADLINE_EXCEEDED);
    expect(rpcCodeForHttpStatus(500)).toBe(RpcCode.INTERNAL);
    expect(rpcCodeForHttpStatus(418)).toBe(RpcCode.UNKNOWN);
  });
});

describe('GatewayError.fromResponse', () => {
  it('parses the google.rpc.Status envelope', () => {
    const body = JSON.stringify({ code: 9, message: 'approval appr_1 is no longer pending', details: [{ '@type': 'x' }] });
    const e = GatewayError.fromResponse(400, body, 'POST /v1/sessions/s/approvals/appr_1/grant');
    expect(e).toBeInstanceOf(GatewayError);
    expect(e).toBeInstanceOf(AetherError);
    expect(isGatewayError(e)).toBe(true);
    expect(e.rpcCode).toBe(9);
    expect(e.httpStatus).toBe(400);
    expect(e.code).toBe(GatewayErrorCode.FAILED_PRECONDITION);
    expect(e.kind).toBe('conflict');
    expect(e.details).toEqual([{ '@type': 'x' }]);
    expect(e.message).toContain('no longer pending');
    expect(e.message).toContain('POST /v1/sessions/s/approvals/appr_1/grant');
    expect(e.name).toBe('GatewayError');
  });

  it('a 404 envelope is not_found', () => {
    const e = GatewayError.fromResponse(404, Buffer.from('{"code":5,"message":"session sess_x not found","details":[]}'));
    expect(e.code).toBe('AETHER_GATEWAY_NOT_FOUND');
    expect(e.kind).toBe('not_found');
  });

  it('non-JSON bodies still give a clear message', () => {
    const e = GatewayError.fromResponse(502, '<html>\n<body>Bad   Gateway</body>\n</html>');
    expect(e.rpcCode).toBe(RpcCode.UNAVAILABLE);
    expect(e.kind).toBe('network');
    expect(e.message).toBe('gateway answered HTTP 502: <html> <body>Bad Gateway</body> </html>');
    const empty = GatewayError.fromResponse(401, '');
    expect(empty.message).toContain('HTTP 401 with an empty body');
    expect(empty.code).toBe(GatewayErrorCode.UNAUTHENTICATED);
    expect(empty.hint).toBeTruthy();
  });

  it('JSON that is not a Status is treated like text', () => {
    const e = GatewayError.fromResponse(500, '{"error":"boom"}');
    expect(e.rpcCode).toBe(RpcCode.INTERNAL);
    expect(e.message).toContain('boom');
  });

  it('long bodies are truncated', () => {
    const e = GatewayError.fromResponse(500, 'x'.repeat(10_000));
    expect(e.message.length).toBeLessThan(300);
  });

  it('never carries a bearer token even if the server echoes it', () => {
    const token = 'aet_supersecrettokenvalue123';
    const e = GatewayError.fromResponse(401, JSON.stringify({ code: 16, message: `bad header "Bearer ${token}"`, details: [] }));
    expect(e.message).not.toContain(token);
    const t = GatewayError.fromResponse(400, `Authorization: Bearer ${token}`);
    expect(t.message).not.toContain(token);
  });
});

describe('transport errors', () => {
  it('unreachable is rpc 14 / network with a hint', () => {
    const e = GatewayError.unreachable('cannot reach the gateway at http://127.0.0.1:1: connection refused', { transportCode: 'ECONNREFUSED' });
    expect(e.code).toBe(GatewayErrorCode.UNREACHABLE);
    expect(e.code).toBe('AETHER_GATEWAY_UNREACHABLE');
    expect(e.kind).toBe('network');
    expect(e.rpcCode).toBe(RpcCode.UNAVAILABLE);
    expect(e.httpStatus).toBe(0);
    expect(e.hint).toMatch(/aether gateway status/);
    expect(e.transportCode).toBe('ECONNREFUSED');
    expect(e.transient).toBe(true);
  });

  it('stream status errors keep the code', () => {
    const e = GatewayError.fromStatus({ code: 7, message: 'denied' });
    expect(e.kind).toBe('auth');
    expect(e.code).toBe('AETHER_GATEWAY_PERMISSION_DENIED');
  });

  it('cancelled', () => {
    const e = GatewayError.cancelled('GET /x');
    expect(e.rpcCode).toBe(RpcCode.CANCELLED);
    expect(e.code).toBe('AETHER_GATEWAY_CANCELLED');
  });
});

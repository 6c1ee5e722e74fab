// Checks openapi.yaml, the single API contract: structure, $refs, seed-route coverage, extension marking,
// proto3-JSON conventions, and that src/protocol/api.ts and src/protocol/types.ts are in step with it.

import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as types from '../../../src/protocol/types.js';
import { METHODS, ROOT, loadSpec, schemaChecker, type Json, type SchemaChecker } from './schema-check.js';

// Every route named in seed 001 (request/response examples) and seed 000 (workflows).
const SEED_ROUTES = [
  // 001
  'POST /v1/sessions',
  'GET /v1/sessions/{sessionId}',
  'GET /v1/sessions/{sessionId}/manifest',
  'POST /v1/sessions/{sessionId}/fork',
  'POST /v1/sessions/{sessionId}/checkpoints',
  'POST /v1/sessions/{sessionId}/annotations',
  'GET /v1/sessions/{sessionId}/annotations',
  'PATCH /v1/sessions/{sessionId}/annotations/{annotationId}',
  'POST /v1/sessions/{sessionId}/request-approval',
  'POST /v1/sessions/{sessionId}/approvals/{approvalId}/grant',
  'POST /v1/sessions/{sessionId}/approvals/{approvalId}/deny',
  'POST /v1/sessions/{sessionId}/commit',
  'PUT /v1/sessions/{sessionId}/cache/{key}',
  'GET /v1/sessions/{sessionId}/cache/{key}',
  'POST /v1/sessions/{sessionId}/bus:publish',
  'GET /v1/sessions/{sessionId}/bus',
  'POST /v1/sessions/{sessionId}/dirs',
  'DELETE /v1/sessions/{sessionId}/dirs',
  'POST /v1/sessions/{sessionId}:rename',
  'DELETE /v1/sessions/{sessionId}/files',
  'POST /v1/sessions/{sessionId}/batch',
  'POST /v1/sessions/{sessionId}/patchSegments',
  'POST /v1/sessions/{sessionId}/symlinks',
  'GET /v1/sessions/{sessionId}/symlinks',
  'GET /v1/sessions/{sessionId}/readSymlink',
  'POST /v1/sessions/{sessionId}:link',
  'POST /v1/sessions/{sessionId}:unlink',
  'POST /v1/sessions/{sessionId}:getCasExtents',
  'POST /v1/sessions/{sessionId}:setXattr',
  'POST /v1/sessions/{sessionId}:listXattrs',
  'POST /v1/sessions/{sessionId}:getXattr',
  'POST /v1/sessions/{sessionId}:removeXattr',
  'POST /v1/sessions/{sessionId}:getPosixLock',
  'POST /v1/sessions/{sessionId}:setPosixLock',
  'POST /v1/sessions/{sessionId}:setPosixLockBlocking',
  'POST /v1/sessions/{sessionId}:flock',
  'POST /v1/sessions/{sessionId}:funlock',
  'POST /v1/sessions/{sessionId}/files/lock',
  'POST /v1/sessions/{sessionId}/files/renew-lock',
  'POST /v1/sessions/{sessionId}/files/list-locks',
  'POST /v1/sessions/{sessionId}/files/unlock',
  'POST /v1/sessions/{sessionId}/files/force-unlock',
  'GET /v1/sessions/{sessionId}/health',
  'POST /v1/sessions/{sessionId}/health/report',
  'POST /v1/sessions/{sessionId}/health:testResults',
  'GET /v1/sessions/{sessionId}/analytics',
  'GET /v1/usage',
  'POST /v1/sources',
  'GET /v1/sources',
  'GET /v1/sources/{sourceId}',
  'POST /v1/sources/{sourceId}/startImport',
  'GET /v1/sources/{sourceId}/jobs/{jobId}',
  'POST /v1/sources/{sourceId}/refresh',
  'POST /v1/sources/{sourceId}/promoteSession',
  'GET /v1/sessions/{sessionId}/events',
  'GET /v1/sessions/{sessionId}/secrets',
  'PUT /v1/sessions/{sessionId}/secrets/{secretName}',
  'GET /v1/sessions/{sessionId}/secrets/{secretName}',
  'DELETE /v1/sessions/{sessionId}/secrets/{secretName}',
  // 000 only
  'POST /v1/sessions/{sessionId}/rename',
  'POST /v1/sessions/{sessionId}/restore',
  'GET /v1/metrics/cas',
];

// Aether additions: whole operations, and extension parameters/fields on seed operations.
const EXTENSION_ROUTES = [
  'GET /v1/sessions/{sessionId}/blobs/{hash}',
  'GET /v1/metrics/cas', // seeded route, but its response shape is ours
  'GET /v1/sessions',
  'GET /v1/sessions/{sessionId}/checkpoints',
  'GET /v1/sessions/{sessionId}/approvals',
  'GET /v1/sessions/{sessionId}/approvals/{approvalId}',
  'DELETE /v1/sessions/{sessionId}/cache/{key}',
  'GET /v1/healthz',
  'POST /v1/sessions/{sessionId}:releasePosixLocks',
  'DELETE /v1/sessions/{sessionId}',
  'POST /v1/admin/gc',
  'GET /v1/admin/storage',
  'GET /v1/sessions/{sessionId}/diff',
];
const EXTENSION_FIELDS: Array<[schema: string, property: string]> = [
  ['v1RestoreRequest', 'label'],
  ['v1ManifestNode', 'symlinkTarget'],
  ['v1ManifestNode', 'nlink'],
  ['v1ManifestNode', 'modifiedAt'],
  ['v1ManifestNode', 'xattrNames'],
  ['v1SetPosixLockBlockingRequest', 'timeoutMs'],
  ['v1FlockRequest', 'timeoutMs'],
  ['v1CommitRequest', 'includeIgnored'],
  ['v1CommitRequest', 'allowEmpty'],
  ['v1CommitRequest', 'dryRun'],
  ['v1CommitRequest', 'statWidth'],
  ['v1CommitResponse', 'created'],
  ['v1CommitResponse', 'parentId'],
  ['v1CommitResponse', 'diff'],
  ['v1Source', 'lastJob'],
];
// Extension query/header parameters on seed operations: [operation, parameter name].
const EXTENSION_PARAMS: Array<[op: string, name: string]> = [
  ['GET /v1/sessions/{sessionId}/manifest', 'maxDepth'],
  ['GET /v1/sessions/{sessionId}/events', 'eventType'],
  ['GET /v1/sessions/{sessionId}/events', 'afterEventId'],
  ['GET /v1/sessions/{sessionId}/events', 'waitSeconds'],
  ['GET /v1/sessions/{sessionId}/secrets/{secretName}', 'scope'],
  ['POST /v1/sessions/{sessionId}:rename', 'x-aether-client-id'],
  ['POST /v1/sessions/{sessionId}:rename', 'x-aether-request-id'],
  ['POST /v1/sessions/{sessionId}/batch', 'x-aether-request-id'],
];
// Enum values the gateway uses beyond the seed contract, listed in `x-aether-extension-values`.
const EXTENSION_ENUM_VALUES: Record<string, string[]> = {
  v1PosixFlockMode: ['POSIX_FLOCK_MODE_UNLOCK'],
  v1SessionEventType: ['v1.HealthService.ReportTestResults', 'v1.SecretService.SetSecret', 'v1.SecretService.DeleteSecret'],
};
// Operations that record session events: each accepts the `x-aether-client-id` header.
const EVENT_RECORDING_ROUTES = [
  'POST /v1/sessions',
  'POST /v1/sessions/{sessionId}/fork',
  'POST /v1/sessions/{sessionId}/checkpoints',
  'POST /v1/sessions/{sessionId}/restore',
  'POST /v1/sessions/{sessionId}/annotations',
  'PATCH /v1/sessions/{sessionId}/annotations/{annotationId}',
  'POST /v1/sessions/{sessionId}/request-approval',
  'POST /v1/sessions/{sessionId}/approvals/{approvalId}/grant',
  'POST /v1/sessions/{sessionId}/approvals/{approvalId}/deny',
  'POST /v1/sessions/{sessionId}/commit',
  'POST /v1/sessions/{sessionId}/dirs',
  'DELETE /v1/sessions/{sessionId}/dirs',
  'DELETE /v1/sessions/{sessionId}/files',
  'POST /v1/sessions/{sessionId}:rename',
  'POST /v1/sessions/{sessionId}/rename',
  'POST /v1/sessions/{sessionId}/batch',
  'POST /v1/sessions/{sessionId}/patchSegments',
  'POST /v1/sessions/{sessionId}/symlinks',
  'POST /v1/sessions/{sessionId}:link',
  'POST /v1/sessions/{sessionId}:unlink',
  'POST /v1/sessions/{sessionId}:setXattr',
  'POST /v1/sessions/{sessionId}:removeXattr',
  'POST /v1/sessions/{sessionId}/files/lock',
  'POST /v1/sessions/{sessionId}/files/unlock',
  'POST /v1/sessions/{sessionId}/files/force-unlock',
  'POST /v1/sessions/{sessionId}/health/report',
  'POST /v1/sessions/{sessionId}/health:testResults',
  'PUT /v1/sessions/{sessionId}/secrets/{secretName}',
  'DELETE /v1/sessions/{sessionId}/secrets/{secretName}',
];

interface Op {
  key: string;
  method: string;
  path: string;
  op: Json;
}

let spec: Json;
let ops: Op[];
let checker: SchemaChecker;

beforeAll(async () => {
  spec = await loadSpec();
  checker = schemaChecker(spec);
  ops = [];
  for (const [path, item] of Object.entries<Json>(spec.paths)) {
    for (const method of METHODS) {
      if (item[method]) ops.push({ key: `${method.toUpperCase()} ${path}`, method, path, op: item[method] });
    }
  }
});

function resolvePointer(ref: string): unknown {
  expect(ref.startsWith('#/'), `only local refs are allowed: ${ref}`).toBe(true);
  return checker.resolvePointer(ref);
}

function walk(node: unknown, visit: (value: Json, where: string) => void, where = '#'): void {
  if (Array.isArray(node)) node.forEach((v, i) => walk(v, visit, `${where}/${i}`));
  else if (node !== null && typeof node === 'object') {
    visit(node as Json, where);
    for (const [k, v] of Object.entries(node)) walk(v, visit, `${where}/${k}`);
  }
}

const deref = (node: Json): Json => (node.$ref ? (resolvePointer(node.$ref) as Json) : node);
const opByKey = (key: string): Json => {
  const found = ops.find((o) => o.key === key);
  expect(found, key).toBeDefined();
  return found!.op;
};
const paramsOf = (key: string): Json[] => (opByKey(key).parameters ?? []).map(deref);

describe('openapi.yaml structure', () => {
  it('is OpenAPI 3.0.3 with bearer auth as the global security', () => {
    expect(spec.openapi).toBe('3.0.3');
    expect(spec.security).toEqual([{ bearerAuth: [] }]);
    expect(spec.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
  });

  it('gives every path at least one operation, each with a unique operationId', () => {
    const ids = new Set<string>();
    for (const [path, item] of Object.entries<Json>(spec.paths)) {
      expect(METHODS.some((m) => item[m]), `${path} has no operation`).toBe(true);
    }
    for (const { key, op } of ops) {
      expect(typeof op.operationId === 'string' && op.operationId.length > 0, `${key} lacks operationId`).toBe(true);
      expect(ids.has(op.operationId), `duplicate operationId ${op.operationId}`).toBe(false);
      ids.add(op.operationId);
    }
  });

  it('resolves every $ref', () => {
    const broken: string[] = [];
    walk(spec, (value, where) => {
      if (typeof value.$ref === 'string' && resolvePointer(value.$ref) === undefined) broken.push(`${where}: ${value.$ref}`);
    });
    expect(broken).toEqual([]);
  });

  it('declares every path parameter of each template', () => {
    for (const { key, path, op } of ops) {
      const declared = new Set((op.parameters ?? []).map((p: Json) => deref(p)).filter((p: Json) => p.in === 'path').map((p: Json) => p.name));
      const inTemplate = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      expect([...declared].sort(), key).toEqual([...inTemplate].sort());
    }
  });

  it('documents 400/401/403/404/409 as rpcStatus on every authenticated route', () => {
    for (const { key, op } of ops) {
      if (op.security && op.security.length === 0) continue;
      for (const code of ['400', '401', '403', '404', '409']) {
        const resp = op.responses[code] && deref(op.responses[code]);
        expect(resp, `${key} lacks ${code}`).toBeDefined();
        expect(resp.content['application/json'].schema.$ref, `${key} ${code}`).toBe('#/components/schemas/rpcStatus');
      }
    }
  });

  it('defines rpcStatus as {code:int32, message, details[]}', () => {
    const s = spec.components.schemas.rpcStatus;
    expect(s.properties.code).toMatchObject({ type: 'integer', format: 'int32' });
    expect(s.properties.message.type).toBe('string');
    expect(s.properties.details.type).toBe('array');
  });

  it('leaves only GET /v1/healthz unauthenticated', () => {
    const open = ops.filter(({ op }) => op.security && op.security.length === 0).map((o) => o.key);
    expect(open).toEqual(['GET /v1/healthz']);
  });
});

describe('seed coverage and extensions', () => {
  it('contains every seed route', () => {
    const have = new Set(ops.map((o) => o.key));
    expect(SEED_ROUTES.filter((r) => !have.has(r))).toEqual([]);
  });

  it('marks every non-seed operation, and only the listed ones, with x-aether-extension', () => {
    const seed = new Set(SEED_ROUTES);
    for (const { key, op } of ops) {
      if (!seed.has(key)) expect(op['x-aether-extension'], `${key} is not a seed route but is unmarked`).toBe(true);
    }
    const marked = ops.filter((o) => o.op['x-aether-extension'] === true).map((o) => o.key).sort();
    expect(marked).toEqual([...EXTENSION_ROUTES].sort());
  });

  it('marks extension parameters and fields, each with a reason', () => {
    const manifest = spec.paths['/v1/sessions/{sessionId}/manifest'].get;
    const maxDepth = manifest.parameters.map(deref).find((p: Json) => p.name === 'maxDepth');
    expect(maxDepth).toMatchObject({ in: 'query', 'x-aether-extension': true, schema: { type: 'integer', format: 'int32' } });
    for (const [schema, prop] of EXTENSION_FIELDS) {
      expect(spec.components.schemas[schema].properties[prop]?.['x-aether-extension'], `${schema}.${prop}`).toBe(true);
    }
    walk(spec, (value, where) => {
      if (value['x-aether-extension'] === true) expect(value.description ?? '', where).toMatch(/Aether extension/i);
    });
  });

  it('marks extension query and header parameters of seed operations', () => {
    for (const [key, name] of EXTENSION_PARAMS) {
      const p = paramsOf(key).find((x) => x.name === name);
      expect(p, `${key} ${name}`).toBeDefined();
      expect(p!['x-aether-extension'], `${key} ${name}`).toBe(true);
    }
    const events = paramsOf('GET /v1/sessions/{sessionId}/events');
    expect(events.find((p) => p.name === 'eventType')).toMatchObject({ style: 'form', explode: true, schema: { type: 'array', items: { $ref: '#/components/schemas/v1SessionEventType' } } });
    expect(events.find((p) => p.name === 'waitSeconds')!.schema).toEqual({ type: 'integer', format: 'int32', minimum: 0, maximum: 30 });
  });

  it('declares x-aether-client-id on exactly the operations that record events', () => {
    const header = spec.components.parameters.AetherClientId;
    expect(header).toMatchObject({ name: 'x-aether-client-id', in: 'header', required: false, 'x-aether-extension': true });
    expect(new RegExp(header.schema.pattern).test('mount-7f3a2c')).toBe(true);
    const withHeader = ops.filter((o) => (o.op.parameters ?? []).some((p: Json) => p.$ref === '#/components/parameters/AetherClientId')).map((o) => o.key);
    expect(withHeader.sort()).toEqual([...EVENT_RECORDING_ROUTES].sort());
  });

  it('lists extension enum values in x-aether-extension-values, with a reason', () => {
    for (const [name, schema] of Object.entries<Json>(spec.components.schemas)) {
      const extra = schema['x-aether-extension-values'];
      if (!extra) {
        expect(EXTENSION_ENUM_VALUES[name], name).toBeUndefined();
        continue;
      }
      expect(extra, name).toEqual(EXTENSION_ENUM_VALUES[name]);
      for (const v of extra) expect(schema.enum, name).toContain(v);
      expect(schema.description, name).toMatch(/Aether extension/);
    }
    expect(Object.keys(EXTENSION_ENUM_VALUES).every((n) => spec.components.schemas[n]['x-aether-extension-values'])).toBe(true);
  });

  it('describes :releasePosixLocks and the blocking lock outcomes (EDEADLK detail, timeout)', () => {
    const op = opByKey('POST /v1/sessions/{sessionId}:releasePosixLocks');
    expect(op.requestBody.content['application/json'].schema.$ref).toBe('#/components/schemas/v1ReleasePosixLocksRequest');
    const s = spec.components.schemas;
    expect(s.v1ReleasePosixLocksRequest.required).toEqual(['owner']);
    expect(s.v1ReleasePosixLocksOwner.required).toEqual(['clientId']);
    expect(s.v1ReleasePosixLocksOwner.properties.clientId).toMatchObject({ type: 'string', format: 'uint64' });
    expect(Object.keys(s.v1ReleasePosixLocksResponse.properties).sort()).toEqual(['cancelledWaits', 'releasedLocks']);
    for (const key of ['POST /v1/sessions/{sessionId}:setPosixLockBlocking', 'POST /v1/sessions/{sessionId}:flock']) {
      const o = opByKey(key);
      expect(o.responses['409'].$ref, key).toBe('#/components/responses/LockConflict');
      expect(o.responses['504'].$ref, key).toBe('#/components/responses/LockWaitTimeout');
    }
    expect(opByKey('POST /v1/sessions/{sessionId}:setPosixLockBlocking').requestBody.content['application/json'].schema.$ref).toBe('#/components/schemas/v1SetPosixLockBlockingRequest');
    const example = spec.components.responses.LockConflict.content['application/json'].example;
    expect(example.code).toBe(10);
    expect(checker.check(example.details[0], { $ref: '#/components/schemas/rpcErrorInfo' })).toEqual([]);
    expect(example.details[0]).toMatchObject({ reason: 'EDEADLK', domain: 'aetherfs.io' });
  });

  it('states the semantic rules the seeds leave open, as the gateway implements them', () => {
    const s = spec.components.schemas;
    // logicalSize: absent never truncates; an explicit "0" does.
    expect(s.v1SegmentMutation.properties.logicalSize.description).toMatch(/Absent = no resize/);
    expect(s.v1SegmentMutation.properties.logicalSize.description).toMatch(/explicit "0" truncates/);
    // Borrowed segment naming a blob the tenant cannot read: 9; range past its end: 3.
    expect(s.v1BorrowedSegment.description).toMatch(/code 9 FAILED_PRECONDITION/);
    expect(s.v1BorrowedSegment.description).toMatch(/past the blob's end → code 3/);
    // The manifest lists the prefix node itself, never the root.
    expect(opByKey('GET /v1/sessions/{sessionId}/manifest').description).toMatch(/node at `pathPrefix` itself is listed/);
    // Annotation lines are 1-based, 0 = whole file; a stale expectedContentHash is code 9.
    expect(s.v1Annotation.properties.lineNumber.description).toMatch(/1-based.*0 \(or absent\)/);
    expect(s.v1AddAnnotationRequest.description).toMatch(/code 9 FAILED_PRECONDITION/);
    // Health before the first report: UNKNOWN, no lastUpdatedAt. Cache miss: 200 found:false.
    expect(s.v1HealthStatus.description).toMatch(/STATUS_UNKNOWN.*no `lastUpdatedAt`/);
    expect(s.v1GetCacheEntryResponse.description).toMatch(/found: false/);
    // Creating routes make missing parents; collaboration unlock is by lockId (9), not by principal.
    expect(s.v1CreateDirectoryRequest.description).toMatch(/Missing parent directories are created/);
    expect(s.v1UnlockRequest.description).toMatch(/code 9 FAILED_PRECONDITION/);
  });

  it('describes the blob route: octet-stream, ranges, immutable caching', () => {
    const op = spec.paths['/v1/sessions/{sessionId}/blobs/{hash}'].get;
    expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['200', '206', '404', '416']));
    expect(op.responses['200'].content['application/octet-stream']).toBeDefined();
    expect(op.responses['200'].headers).toHaveProperty('ETag');
    expect(op.responses['200'].headers['Cache-Control'].example).toBe('public, max-age=31536000, immutable');
  });

  it('describes the bus subscription as an NDJSON stream of {result}|{error}', () => {
    const op = spec.paths['/v1/sessions/{sessionId}/bus'].get;
    expect(op.responses['200'].content['application/x-ndjson'].schema.$ref).toBe('#/components/schemas/v1BusStreamItem');
    const item = spec.components.schemas.v1BusStreamItem.properties;
    expect(item.result.$ref).toBe('#/components/schemas/v1Message');
    expect(item.error.$ref).toBe('#/components/schemas/rpcStatus');
  });
});

describe('proto3 JSON conventions', () => {
  it('encodes 64-bit integers as strings and 32-bit integers as numbers', () => {
    walk(spec.components.schemas, (value, where) => {
      if (value.type === 'integer') expect(value.format, where).toBe('int32');
      if (value.format === 'int64' || value.format === 'uint64') expect(value.type, where).toBe('string');
    });
  });

  it('uses the seed field types for representative fields', () => {
    const s = spec.components.schemas;
    expect(s.v1ManifestNode.properties.sizeBytes).toMatchObject({ type: 'string', format: 'int64' });
    expect(s.v1ManifestNode.properties.mode).toMatchObject({ type: 'integer', format: 'int32' });
    expect(s.v1Session.properties.createdAt).toMatchObject({ type: 'string', format: 'date-time' });
    expect(s.v1SetCacheEntryRequest.properties.value).toMatchObject({ type: 'string', format: 'byte' });
    expect(s.v1SetCacheEntryRequest.properties.ttlSeconds).toMatchObject({ type: 'string', format: 'int64' });
    expect(s.v1ImportJob.properties.startedAt).toEqual(expect.objectContaining({ type: 'string' }));
    expect(s.v1ImportJob.properties.startedAt.format).toBeUndefined();
    expect(s.v1TenantUsage.properties.sessionHours).toMatchObject({ type: 'number', format: 'double' });
    expect(s.v1SessionStatus.enum).toEqual(['SESSION_STATUS_UNSPECIFIED', 'SESSION_STATUS_ACTIVE', 'SESSION_STATUS_PENDING_APPROVAL']);
  });

  it('names schemas grpc-gateway style (v1Xxx, rpcStatus, rpcErrorInfo, protobufAny)', () => {
    for (const name of Object.keys(spec.components.schemas)) {
      expect(name, name).toMatch(/^(v1[A-Z][A-Za-z0-9]*|rpcStatus|rpcErrorInfo|protobufAny)$/);
    }
  });
});

const conformance = (value: unknown, schema: Json, where: string, out: string[]) => checker.conformance(value, schema, where, out);

describe('examples', () => {
  it('every example in openapi.yaml conforms to its schema', () => {
    const problems: string[] = [];
    walk(spec, (node, where) => {
      if (!('example' in node)) return;
      if (node.schema) conformance(node.example, node.schema, where, problems); // parameter, header, media type
      else if (node.type || node.properties || node.enum) conformance(node.example, node, where, problems); // schema
    });
    expect(problems).toEqual([]);
  });

  it('the validator rejects a payload that strays from the contract', () => {
    const problems: string[] = [];
    const session = { $ref: '#/components/schemas/v1Session' };
    conformance({ id: 's', status: 'ACTIVE', createdAt: 'x', lastActivityAt: '2026-03-11T05:55:21Z', extra: 1 }, session, 'session', problems);
    conformance({ offset: 0, length: '1' }, { $ref: '#/components/schemas/v1CasExtent' }, 'extent', problems);
    expect(problems).toHaveLength(4);
  });
});

describe('generated TypeScript', () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'aether-openapi-'));
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('src/protocol/api.ts is up to date with openapi.yaml (run `npm run gen:api`)', async () => {
    const require = createRequire(import.meta.url);
    const cli = join(dirname(require.resolve('openapi-typescript/package.json')), 'bin', 'cli.js');
    const out = join(tmp, 'api.ts');
    await promisify(execFile)(process.execPath, [cli, 'openapi.yaml', '-o', out], { cwd: ROOT });
    const [fresh, committed] = await Promise.all([readFile(out, 'utf8'), readFile(join(ROOT, 'src/protocol/api.ts'), 'utf8')]);
    expect(committed === fresh, 'src/protocol/api.ts is stale: run `npm run gen:api`').toBe(true);
  });

  it('src/protocol/types.ts aliases every schema', async () => {
    const text = await readFile(join(ROOT, 'src/protocol/types.ts'), 'utf8');
    const missing = Object.keys(spec.components.schemas).filter((n) => !text.includes(`Schemas['${n}']`));
    expect(missing).toEqual([]);
  });

  it('types.ts enum value lists match the spec enums', () => {
    for (const [name, schema] of Object.entries<Json>(spec.components.schemas)) {
      if (!schema.enum) continue;
      const constName = `${name.startsWith('v1') ? name.slice(2) : name}Values`;
      expect((types as Record<string, unknown>)[constName], constName).toEqual(schema.enum);
    }
  });
});

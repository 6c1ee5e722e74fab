// Checks openapi.yaml, the single API contract: structure, $refs, seed-route coverage, extension marking,
// proto3-JSON conventions, and that src/protocol/api.ts and src/protocol/types.ts are in step with it.

import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import * as types from '../../../src/protocol/types.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const SPEC_PATH = join(ROOT, 'openapi.yaml');
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'] as const;

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
];
const EXTENSION_FIELDS: Array<[schema: string, property: string]> = [
  ['v1RestoreRequest', 'label'],
  ['v1ManifestNode', 'symlinkTarget'],
  ['v1ManifestNode', 'nlink'],
  ['v1ManifestNode', 'modifiedAt'],
  ['v1ManifestNode', 'xattrNames'],
];

type Json = Record<string, any>;
interface Op {
  key: string;
  method: string;
  path: string;
  op: Json;
}

let spec: Json;
let ops: Op[];

beforeAll(async () => {
  spec = parse(await readFile(SPEC_PATH, 'utf8')) as Json;
  ops = [];
  for (const [path, item] of Object.entries<Json>(spec.paths)) {
    for (const method of METHODS) {
      if (item[method]) ops.push({ key: `${method.toUpperCase()} ${path}`, method, path, op: item[method] });
    }
  }
});

function resolvePointer(ref: string): unknown {
  expect(ref.startsWith('#/'), `only local refs are allowed: ${ref}`).toBe(true);
  let node: unknown = spec;
  for (const raw of ref.slice(2).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (node === null || typeof node !== 'object' || !(key in node)) return undefined;
    node = (node as Json)[key];
  }
  return node;
}

function walk(node: unknown, visit: (value: Json, where: string) => void, where = '#'): void {
  if (Array.isArray(node)) node.forEach((v, i) => walk(v, visit, `${where}/${i}`));
  else if (node !== null && typeof node === 'object') {
    visit(node as Json, where);
    for (const [k, v] of Object.entries(node)) walk(v, visit, `${where}/${k}`);
  }
}

const deref = (node: Json): Json => (node.$ref ? (resolvePointer(node.$ref) as Json) : node);

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

  it('names schemas grpc-gateway style (v1Xxx, rpcStatus, protobufAny)', () => {
    for (const name of Object.keys(spec.components.schemas)) {
      expect(name, name).toMatch(/^(v1[A-Z][A-Za-z0-9]*|rpcStatus|protobufAny)$/);
    }
  });
});

// A small validator for the subset of JSON Schema the contract uses, strict about unknown keys,
// so every seed payload copied into openapi.yaml as an `example` must match its schema exactly.
function conformance(value: unknown, schema: Json, where: string, out: string[]): void {
  while (schema.$ref || (schema.allOf && schema.allOf.length === 1)) schema = schema.$ref ? deref(schema) : schema.allOf[0];
  const bad = (m: string) => out.push(`${where}: ${m}`);
  if (schema.enum) {
    if (!schema.enum.includes(value)) bad(`${JSON.stringify(value)} is not one of the enum values`);
    return;
  }
  switch (schema.type) {
    case 'object': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return bad('expected an object');
      const entries = Object.entries(value);
      for (const r of schema.required ?? []) if (!(r in value)) bad(`missing required ${r}`);
      if (schema.maxProperties !== undefined && entries.length > schema.maxProperties) bad('too many properties (oneof)');
      for (const [k, v] of entries) {
        if (schema.properties?.[k]) conformance(v, schema.properties[k], `${where}.${k}`, out);
        else if (schema.additionalProperties) conformance(v, schema.additionalProperties === true ? {} : schema.additionalProperties, `${where}.${k}`, out);
        else bad(`unknown property ${k}`);
      }
      return;
    }
    case 'array':
      if (!Array.isArray(value)) return bad('expected an array');
      value.forEach((v, i) => conformance(v, schema.items, `${where}[${i}]`, out));
      return;
    case 'string':
      if (typeof value !== 'string') return bad(`expected a string (format ${schema.format ?? 'none'})`);
      if ((schema.format === 'int64' || schema.format === 'uint64') && !/^-?\d+$/.test(value)) bad('not a decimal integer string');
      if (schema.format === 'date-time' && Number.isNaN(Date.parse(value))) bad('not an RFC 3339 timestamp');
      if (schema.format === 'byte' && !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) bad('not base64');
      return;
    case 'integer':
      if (!Number.isInteger(value)) bad('expected an integer');
      return;
    case 'number':
      if (typeof value !== 'number') bad('expected a number');
      return;
    case 'boolean':
      if (typeof value !== 'boolean') bad('expected a boolean');
      return;
  }
}

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

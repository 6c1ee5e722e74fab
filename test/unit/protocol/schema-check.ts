// A small validator for the subset of JSON Schema that openapi.yaml uses, strict about unknown keys:
// every property must be declared (unless the schema has additionalProperties), required ones must
// be present, int64/uint64 must be decimal strings, enums must be full names. Shared by the contract
// unit test (the yaml's own examples) and test/integration/gateway/contract.test.ts (real gateway
// responses).
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export type Json = Record<string, any>;

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const SPEC_PATH = join(ROOT, 'openapi.yaml');
export const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'] as const;

export async function loadSpec(): Promise<Json> {
  return parse(await readFile(SPEC_PATH, 'utf8')) as Json;
}

export interface SchemaChecker {
  /** Resolve a local `#/...` pointer (undefined when it dangles). */
  resolvePointer(ref: string): unknown;
  /** A node, or what its `$ref` points at. */
  deref(node: Json): Json;
  /** Append to `out` every way `value` strays from `schema` (a schema or a `{$ref}`). */
  conformance(value: unknown, schema: Json, where: string, out: string[]): void;
  /** Problems of `value` against `schema`; [] when it conforms. */
  check(value: unknown, schema: Json, where?: string): string[];
}

export function schemaChecker(spec: Json): SchemaChecker {
  const resolvePointer = (ref: string): unknown => {
    if (!ref.startsWith('#/')) throw new Error(`only local refs are allowed: ${ref}`);
    let node: unknown = spec;
    for (const raw of ref.slice(2).split('/')) {
      const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
      if (node === null || typeof node !== 'object' || !(key in node)) return undefined;
      node = (node as Json)[key];
    }
    return node;
  };
  const deref = (node: Json): Json => (node.$ref ? (resolvePointer(node.$ref) as Json) : node);

  function conformance(value: unknown, schema: Json, where: string, out: string[]): void {
    while (schema.$ref || (schema.allOf && schema.allOf.length === 1)) schema = schema.$ref ? deref(schema) : schema.allOf[0];
    const bad = (m: string): void => {
      out.push(`${where}: ${m}`);
    };
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
        if (schema.pattern && !new RegExp(schema.pattern).test(value)) bad(`does not match ${schema.pattern}`);
        return;
      case 'integer':
        if (!Number.isInteger(value)) bad('expected an integer');
        else if (schema.format === 'int32' && ((value as number) < -(2 ** 31) || (value as number) >= 2 ** 31)) bad('out of int32 range');
        return;
      case 'number':
        if (typeof value !== 'number') bad('expected a number');
        return;
      case 'boolean':
        if (typeof value !== 'boolean') bad('expected a boolean');
        return;
    }
  }

  return {
    resolvePointer,
    deref,
    conformance,
    check(value, schema, where = '$') {
      const out: string[] = [];
      conformance(value, schema, where, out);
      return out;
    },
  };
}

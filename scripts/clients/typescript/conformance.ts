// Checks every answer the generated client receives against the OpenAPI document it was generated
// from (scripts/check-clients.sh). Installed as a response interceptor, so no call escapes it.
//
// The generated artefacts cannot do this alone: types vanish at run time, and the @hey-api/schemas
// plugin only exports the document's *component* schemas, while many responses are written inline.
// So the operation is found in the same document (by method and the path template the SDK
// function passed), and its response schema is walked, following $ref, allOf, oneOf and anyOf.
//
// A problem is: a status the operation does not list; a field the document does not name (an
// object with named properties and no `additionalProperties` schema); a required field missing;
// a value of another type, outside its enum, or breaking a stated format or bound.
// Optional fields present in every answer are counted and reported (not failed).

import { readFileSync } from 'node:fs';

type Schema = { [key: string]: unknown };
type Operation = { operationId: string; responses: Record<string, Schema> };

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];

export class Conformance {
  private readonly doc: Schema;
  private readonly operations = new Map<string, Operation>();
  private problems: string[] = [];
  /** `label.field` of optional fields -> [answers carrying it, answers without it]. */
  readonly optional = new Map<string, [number, number]>();
  responses = 0;

  constructor(path: string) {
    this.doc = JSON.parse(readFileSync(path, 'utf8')) as Schema;
    const paths = (this.doc.paths ?? {}) as Record<string, Record<string, unknown>>;
    for (const [template, item] of Object.entries(paths)) {
      for (const method of METHODS) {
        const op = item[method] as Operation | undefined;
        if (op) this.operations.set(`${method.toUpperCase()} ${template}`, op);
      }
    }
  }

  /** Problems found since the last call, emptied. */
  take(): string[] {
    const found = this.problems;
    this.problems = [];
    return found;
  }

  /** The response interceptor: `url` is the SDK function's path template. */
  readonly onResponse = async (response: Response, request: Request, options: { url: string }) => {
    this.responses += 1;
    const op = this.operations.get(`${request.method} ${options.url}`);
    if (!op) {
      this.problems.push(`${request.method} ${options.url}: no such operation in the document`);
      return response;
    }
    const where = `${op.operationId} ${response.status}`;
    const documented = op.responses[String(response.status)] ?? op.responses.default;
    if (!documented) {
      this.problems.push(`${where}: status ${response.status} is not documented`);
      return response;
    }
    const content = this.resolve(documented).content as Record<string, Schema> | undefined;
    const text = await response.clone().text();
    if (!content) {
      if (text !== '') this.problems.push(`${where}: a body the document does not describe: ${text.slice(0, 200)}`);
      return response;
    }
    const media = content['application/json'];
    const type = response.headers.get('content-type') ?? '';
    if (!media || !type.startsWith('application/json')) {
      this.problems.push(`${where}: content type ${type || '(none)'} where the document has ${Object.keys(content).join(', ')}`);
      return response;
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      this.problems.push(`${where}: not JSON: ${text.slice(0, 200)}`);
      return response;
    }
    if (media.schema) this.check(media.schema as Schema, body, where, where, this.problems, true);
    return response;
  };

  private resolve(schema: Schema): Schema {
    let current = schema;
    for (let hops = 0; typeof current.$ref === 'string'; hops += 1) {
      if (hops > 32) throw new Error(`$ref loop at ${String(current.$ref)}`);
      current = this.pointer(current.$ref as string);
    }
    return current;
  }

  private pointer(ref: string): Schema {
    if (!ref.startsWith('#/')) throw new Error(`external $ref ${ref} is not supported`);
    let node: unknown = this.doc;
    for (const raw of ref.slice(2).split('/')) {
      const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
      node = (node as Record<string, unknown> | undefined)?.[part];
    }
    if (!node || typeof node !== 'object') throw new Error(`unresolved $ref ${ref}`);
    return node as Schema;
  }

  /** allOf merged into one schema (properties and required lists joined). */
  private flatten(schema: Schema): Schema {
    const resolved = this.resolve(schema);
    const parts = resolved.allOf as Schema[] | undefined;
    if (!parts) return resolved;
    const merged: Schema = { ...resolved };
    delete merged.allOf;
    const properties: Record<string, Schema> = { ...((resolved.properties ?? {}) as Record<string, Schema>) };
    const required = new Set<string>((resolved.required ?? []) as string[]);
    for (const part of parts.map((p) => this.flatten(p))) {
      Object.assign(properties, part.properties ?? {});
      for (const name of (part.required ?? []) as string[]) required.add(name);
      for (const [key, value] of Object.entries(part)) {
        if (key === 'properties' || key === 'required') continue;
        if (key === 'additionalProperties' && merged.additionalProperties !== undefined) {
          if (value === false) merged.additionalProperties = false;
          continue;
        }
        if (!(key in merged)) merged[key] = value;
      }
    }
    merged.properties = properties;
    merged.required = [...required];
    return merged;
  }

  private check(raw: Schema, value: unknown, path: string, label: string, out: string[], record: boolean): void {
    const refName = typeof raw.$ref === 'string' ? raw.$ref.split('/').pop() : undefined;
    if (refName) label = refName;
    const schema = this.flatten(raw);

    for (const keyword of ['oneOf', 'anyOf'] as const) {
      const branches = schema[keyword] as Schema[] | undefined;
      if (!branches) continue;
      const results = branches.map((branch) => {
        const errors: string[] = [];
        this.check(branch, value, path, label, errors, false);
        return errors;
      });
      const passing = results.map((errors, i) => (errors.length === 0 ? i : -1)).filter((i) => i >= 0);
      if (passing.length === 0) {
        out.push(`${path}: matches no branch of ${keyword}: ${results.map((r) => r[0]).join(' | ')}`);
        return;
      }
      if (keyword === 'oneOf' && passing.length > 1) {
        out.push(`${path}: matches ${passing.length} branches of oneOf`);
      }
      if (record) this.check(branches[passing[0] as number] as Schema, value, path, label, [], true);
    }

    const types = schema.type === undefined ? undefined : ([] as string[]).concat(schema.type as string | string[]);
    if (types && schema.nullable === true) types.push('null');
    if (value === null) {
      const enumValues = schema.enum as unknown[] | undefined;
      if ((types && !types.includes('null')) || (enumValues && !enumValues.includes(null))) {
        out.push(`${path}: null where the document says ${types ? types.join(' or ') : 'enum'}`);
      }
      return;
    }
    if (types && !types.some((t) => typeMatches(t, value))) {
      out.push(`${path}: ${JSON.stringify(value)?.slice(0, 80)} is not ${types.join(' or ')}`);
      return;
    }
    if (Array.isArray(schema.enum) && !schema.enum.includes(value)) {
      out.push(`${path}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
    }
    if ('const' in schema && schema.const !== value) {
      out.push(`${path}: ${JSON.stringify(value)} is not ${JSON.stringify(schema.const)}`);
    }
    if (typeof value === 'string') this.checkString(schema, value, path, out);
    if (typeof value === 'number') {
      if (typeof schema.minimum === 'number' && value < schema.minimum) out.push(`${path}: ${value} < minimum ${schema.minimum}`);
      if (typeof schema.maximum === 'number' && value > schema.maximum) out.push(`${path}: ${value} > maximum ${schema.maximum}`);
    }
    if (Array.isArray(value)) {
      const items = schema.items as Schema | undefined;
      if (items) value.forEach((item, i) => this.check(items, item, `${path}[${i}]`, `${label}[]`, out, record));
      return;
    }
    if (typeof value === 'object') this.checkObject(schema, value as Record<string, unknown>, path, label, out, record);
  }

  private checkString(schema: Schema, value: string, path: string, out: string[]): void {
    const length = [...value].length;
    if (typeof schema.minLength === 'number' && length < schema.minLength) out.push(`${path}: shorter than minLength ${schema.minLength}`);
    if (typeof schema.maxLength === 'number' && length > schema.maxLength) out.push(`${path}: longer than maxLength ${schema.maxLength}`);
    if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(value)) {
      out.push(`${path}: ${JSON.stringify(value)} does not match ${schema.pattern}`);
    }
    if (schema.format === 'date-time' && !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(value)) {
      out.push(`${path}: ${JSON.stringify(value)} is not a date-time`);
    }
    if (schema.format === 'date' && !/^\d{4}-\d{2}-\d{2}$/.test(value)) out.push(`${path}: ${JSON.stringify(value)} is not a date`);
  }

  private checkObject(schema: Schema, value: Record<string, unknown>, path: string, label: string, out: string[], record: boolean): void {
    const properties = (schema.properties ?? {}) as Record<string, Schema>;
    const required = new Set((schema.required ?? []) as string[]);
    const additional = schema.additionalProperties;
    for (const name of required) {
      if (!(name in value)) out.push(`${path}: required field ${name} is missing`);
    }
    for (const [name, item] of Object.entries(value)) {
      const declared = properties[name];
      if (declared) {
        this.check(declared, item, `${path}.${name}`, `${label}.${name}`, out, record);
      } else if (additional && typeof additional === 'object') {
        this.check(additional as Schema, item, `${path}.${name}`, `${label}.*`, out, record);
      } else if (additional === false || Object.keys(properties).length > 0) {
        out.push(`${path}: field ${name} is not in the document`);
      }
    }
    if (!record) return;
    for (const name of Object.keys(properties)) {
      if (required.has(name)) continue;
      const key = `${label}.${name}`;
      const seen = this.optional.get(key) ?? [0, 0];
      seen[name in value ? 0 : 1] += 1;
      this.optional.set(key, seen);
    }
  }

  /** Optional fields that every answer carried. */
  alwaysPresent(): string[] {
    return [...this.optional.entries()].filter(([, [seen, missing]]) => seen > 0 && missing === 0).map(([key]) => key).sort();
  }
}

function typeMatches(type: string, value: unknown): boolean {
  switch (type) {
    case 'string':
      return typeof value === 'string';
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'array':
      return Array.isArray(value);
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value);
    case 'null':
      return value === null;
    default:
      return true;
  }
}

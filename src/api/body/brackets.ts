// Rails/Rack-style bracket nesting for multipart and application/x-www-form-urlencoded bodies.
// Ref: Rack::QueryParser#normalize_params (https://github.com/rack/rack/blob/main/lib/rack/query_parser.rb)
// and CLIENTS.md items 8–11. Behaviour, in short:
//   tune[title]=x                      → { tune: { title: 'x' } }
//   tune[images][]=f1, tune[images][]=f2 → { tune: { images: [f1, f2] } }
//   a[][text]=1, a[][n]=2, a[][text]=3  → { a: [{ text: '1', n: '2' }, { text: '3' }] }  (a new element starts
//                                          when the key already exists in the current last element)
//   a[0][text]=1, a[1][text]=2          → { a: [{ text: '1' }, { text: '2' }] }  (index notation, as sent by
//                                          PHP's http_build_query and the `qs` library, becomes a list)
//   a=1, a=2                            → { a: '2' }  (a repeated plain key: the last one wins, as in Rack)
// Names that do not follow the bracket grammar (`a[b`, `a]`, `[x]`) are kept as literal top-level keys, so an odd
// unknown field is ignored later instead of failing the request. Values stay strings / files: coercion is the
// caller's job. Nested objects have a null prototype, and `__proto__` / `constructor` / `prototype` segments are
// refused, so a body can never reach Object.prototype.

export interface UploadedFile {
  kind: 'file';
  field: string;
  filename?: string;
  contentType?: string;
  data: Buffer;
}
export type FormValue = string | UploadedFile;

/** A body whose field names cannot be assembled into one consistent shape (→ 400 with this message). */
export class BodyShapeError extends Error {
  override name = 'BodyShapeError';
}

export const DEFAULT_MAX_DEPTH = 8;
export const DEFAULT_MAX_KEYS = 1000;

const FORBIDDEN_SEGMENTS = new Set(['__proto__', 'constructor', 'prototype']);
/** head, then zero or more `[segment]` groups; the character classes are disjoint, so matching is linear. */
const BRACKET_NAME = /^([^[\]]+)((?:\[[^[\]]*\])*)$/;
const BRACKET_GROUP = /\[([^[\]]*)\]/g;
/** Canonical non-negative integers only ("0", "17", not "007" or "1e3"), bounded so they sort as numbers. */
const INDEX_KEY = /^(?:0|[1-9]\d{0,8})$/;
const MAX_NAME_IN_MESSAGE = 120;

type Obj = Record<string, unknown>;
/** `null` stands for an empty `[]` group (append to a list). */
type Segment = string | null;

interface ParsedName {
  head: string;
  segments: Segment[];
}

/** Splits `a[b][][c]` into head `a` and segments `['b', null, 'c']`; null when the name is not bracket-shaped. */
export function parseFieldName(name: string): ParsedName | null {
  const m = BRACKET_NAME.exec(name);
  if (!m) return null;
  const segments: Segment[] = [];
  for (const g of m[2].matchAll(BRACKET_GROUP)) segments.push(g[1] === '' ? null : g[1]);
  return { head: m[1], segments };
}

export function nestFields(
  entries: Iterable<[string, FormValue]>,
  limits: { maxDepth?: number; maxKeys?: number } = {},
): Record<string, unknown> {
  const maxDepth = limits.maxDepth ?? DEFAULT_MAX_DEPTH;
  const maxKeys = limits.maxKeys ?? DEFAULT_MAX_KEYS;
  const builder = new Builder();
  let count = 0;
  for (const [name, value] of entries) {
    count += 1;
    if (count > maxKeys) throw new BodyShapeError(`too many fields: more than ${maxKeys}`);
    if (name === '') continue; // `&=x&` carries no field name; Rack drops it too
    const parsed = parseFieldName(name) ?? { head: name, segments: [] };
    if (parsed.segments.length > maxDepth) {
      throw new BodyShapeError(
        `field ${quote(name)} is nested ${parsed.segments.length} levels deep; the limit is ${maxDepth}`,
      );
    }
    for (const s of [parsed.head, ...parsed.segments]) {
      if (s !== null && FORBIDDEN_SEGMENTS.has(s)) {
        throw new BodyShapeError(`field ${quote(name)} uses the reserved name ${quote(s)}`);
      }
    }
    builder.insert(name, parsed, value);
  }
  return builder.finish();
}

class Builder {
  private readonly root: Obj = newObj();
  /** Objects created here, so an UploadedFile (also an object) is never mistaken for a nested group. */
  private readonly groups = new WeakSet<object>();

  constructor() {
    this.groups.add(this.root);
  }

  insert(name: string, { head, segments }: ParsedName, value: FormValue): void {
    let container = this.root;
    let key = head;
    let path = head;
    for (let i = 0; i < segments.length; i++) {
      const seg = segments[i];
      if (seg !== null) {
        container = this.objectAt(container, key, path, name);
        key = seg;
        path += `[${seg}]`;
        continue;
      }
      const list = this.listAt(container, key, path, name);
      path += '[]';
      if (i === segments.length - 1) {
        list.push(value);
        return;
      }
      const next = segments[i + 1];
      if (next === null)
        throw new BodyShapeError(`field ${quote(name)}: lists of lists ([][]) are not supported`);
      const rest = segments.slice(i + 1) as Segment[];
      const last = list[list.length - 1];
      let element: Obj;
      if (this.isGroup(last) && !this.pathIsSet(last, rest)) {
        element = last;
      } else {
        element = this.newGroup();
        list.push(element);
      }
      container = element;
      key = next;
      path += `[${next}]`;
      i += 1;
    }
    if (Object.hasOwn(container, key)) {
      const existing = container[key];
      if (this.isGroup(existing) || Array.isArray(existing)) {
        throw new BodyShapeError(
          `field ${quote(name)} conflicts with earlier fields: ${quote(path)} already holds ${describe(existing)}`,
        );
      }
    }
    container[key] = value; // a repeated plain key: the last value wins
  }

  finish(): Record<string, unknown> {
    return this.indexObjectsToLists(this.root) as Record<string, unknown>;
  }

  private objectAt(container: Obj, key: string, path: string, name: string): Obj {
    if (!Object.hasOwn(container, key)) {
      const created = this.newGroup();
      container[key] = created;
      return created;
    }
    const existing = container[key];
    if (this.isGroup(existing)) return existing;
    throw new BodyShapeError(
      `field ${quote(name)} conflicts with earlier fields: ${quote(path)} already holds ${describe(existing)}, not nested fields`,
    );
  }

  private listAt(container: Obj, key: string, path: string, name: string): unknown[] {
    if (!Object.hasOwn(container, key)) {
      const created: unknown[] = [];
      container[key] = created;
      return created;
    }
    const existing = container[key];
    if (Array.isArray(existing)) return existing;
    throw new BodyShapeError(
      `field ${quote(name)} conflicts with earlier fields: ${quote(path)} already holds ${describe(existing)}, not a list`,
    );
  }

  /** Rails rule: does `rest` (starting with a named key) already lead to a value inside this list element? */
  private pathIsSet(element: Obj, rest: Segment[]): boolean {
    let cur: Obj = element;
    for (let j = 0; j < rest.length; j++) {
      const seg = rest[j];
      // A deeper `[]` decides for itself at its own level; appending never "repeats" a key.
      if (seg === null) return false;
      if (!Object.hasOwn(cur, seg)) return false;
      const v = cur[seg];
      if (j === rest.length - 1) return true;
      if (rest[j + 1] === null) return false;
      if (!this.isGroup(v)) return true;
      cur = v;
    }
    return false;
  }

  private indexObjectsToLists(node: unknown): unknown {
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) node[i] = this.indexObjectsToLists(node[i]);
      return node;
    }
    if (!this.isGroup(node)) return node;
    const keys = Object.keys(node);
    for (const k of keys) node[k] = this.indexObjectsToLists(node[k]);
    if (node === this.root || keys.length === 0 || !keys.every((k) => INDEX_KEY.test(k))) return node;
    return keys.sort((x, y) => Number(x) - Number(y)).map((k) => node[k]);
  }

  private newGroup(): Obj {
    const o = newObj();
    this.groups.add(o);
    return o;
  }

  private isGroup(v: unknown): v is Obj {
    return typeof v === 'object' && v !== null && this.groups.has(v);
  }
}

function newObj(): Obj {
  return Object.create(null) as Obj;
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'string') return 'a value';
  if (typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'file') return 'a file';
  return 'nested fields';
}

function quote(s: string): string {
  const short = s.length > MAX_NAME_IN_MESSAGE ? `${s.slice(0, MAX_NAME_IN_MESSAGE)}…` : s;
  return JSON.stringify(short);
}

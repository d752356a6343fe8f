// A component's weights addressed by diffusers name, whatever file layout they come from.
// Graph builders and (later) LoRA merging only ever see this interface.

import { createHash } from 'node:crypto';
import type { SafetensorsFile } from './safetensors.ts';

export interface TensorSource {
  /** diffusers names of every tensor of this component */
  names(): string[];
  has(name: string): boolean;
  /** shape as the diffusers model holds it */
  shape(name: string): number[];
  /** float32 values (row-major), read from disk on each call */
  read(name: string): Float32Array;
  /** stable fingerprint of the underlying files (path, size, mtime, header hash), for cache keys */
  identity(): string;
}

export interface MappedTensor {
  file: SafetensorsFile;
  key: string;
  shape: number[];
}

/** A TensorSource over one or more safetensors files through an explicit name table. */
export class MappedTensorSource implements TensorSource {
  constructor(
    private readonly table: Map<string, MappedTensor>,
    private readonly id: string,
  ) {}

  names(): string[] {
    return [...this.table.keys()];
  }
  has(name: string): boolean {
    return this.table.has(name);
  }
  shape(name: string): number[] {
    return this.entry(name).shape;
  }
  read(name: string): Float32Array {
    const e = this.entry(name);
    return e.file.readFloat32(e.key);
  }
  identity(): string {
    return this.id;
  }
  private entry(name: string): MappedTensor {
    const e = this.table.get(name);
    if (!e) throw new Error(`checkpoint has no tensor ${name}`);
    return e;
  }
}

export function fileIdentity(file: SafetensorsFile): string {
  const h = createHash('sha256').update(file.headerBytes).digest('hex').slice(0, 16);
  return `${file.path}|${file.size}|${Math.round(file.mtimeMs)}|${h}`;
}

/** Every tensor of a file under its own name, optionally restricted to a key prefix that is stripped. */
export function sourceFromFile(file: SafetensorsFile, prefix = ''): MappedTensorSource {
  const table = new Map<string, MappedTensor>();
  for (const [key, info] of file.tensors) {
    if (key.startsWith(prefix)) table.set(key.slice(prefix.length), { file, key, shape: info.shape });
  }
  return new MappedTensorSource(table, `${fileIdentity(file)}#${prefix}`);
}

/** Several components' tensors as one (names must not collide), e.g. a UNet plus an IP-Adapter's layers. */
export class UnionTensorSource implements TensorSource {
  constructor(private readonly sources: TensorSource[]) {
    const seen = new Set<string>();
    for (const s of sources)
      for (const n of s.names()) {
        if (seen.has(n)) throw new Error(`tensor ${n} exists in two of the combined weight files`);
        seen.add(n);
      }
  }
  names(): string[] {
    return this.sources.flatMap((s) => s.names());
  }
  has(name: string): boolean {
    return this.sources.some((s) => s.has(name));
  }
  shape(name: string): number[] {
    return this.owner(name).shape(name);
  }
  read(name: string): Float32Array {
    return this.owner(name).read(name);
  }
  identity(): string {
    return this.sources.map((s) => s.identity()).join('+');
  }
  private owner(name: string): TensorSource {
    const s = this.sources.find((x) => x.has(name));
    if (!s) throw new Error(`checkpoint has no tensor ${name}`);
    return s;
  }
}

// Seeded noise, one torch CPU generator per image ("generator_per_image" in refs/pipeline_seeded.json,
// what diffusers does with a list of generators): image i draws from Generator.manual_seed(seed + i), and
// every batched draw concatenates one [1, ...] draw per generator in image order.

import { TorchGenerator } from '../rng/torch-generator.ts';
import type { NoiseSource } from '../schedulers/index.ts';

export class PerImageNoise implements NoiseSource {
  readonly generators: TorchGenerator[];

  constructor(seed: number, count: number) {
    // seed + i may pass 2^32 - 1 (the API allows seeds up to it); torch seeds are 64-bit, so use bigint.
    this.generators = Array.from({ length: count }, (_, i) => new TorchGenerator(BigInt(seed) + BigInt(i)));
  }

  /** Fills `out` (count equal chunks) with one draw per generator, in image order. */
  randnInto(out: Float32Array): Float32Array {
    const n = this.generators.length;
    if (out.length % n !== 0) throw new Error(`noise: ${out.length} values do not split into ${n} images`);
    const per = out.length / n;
    this.generators.forEach((g, i) => {
      g.randnInto(out.subarray(i * per, (i + 1) * per));
    });
    return out;
  }

  randn(count: number): Float32Array {
    return this.randnInto(new Float32Array(count));
  }
}

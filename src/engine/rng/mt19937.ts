// Ref: M. Matsumoto & T. Nishimura, "Mersenne Twister: a 623-dimensionally equidistributed uniform
// pseudo-random number generator" (1998); PyTorch's at::mt19937 (aten/src/ATen/core/MT19937RNGEngine.h)
// is the textbook generator seeded with the standard init_genrand recurrence.

const N = 624;
const M = 397;
const MATRIX_A = 0x9908b0df;
const UPPER_MASK = 0x80000000;
const LOWER_MASK = 0x7fffffff;

export interface Mt19937State {
  readonly state: Uint32Array;
  readonly index: number;
}

/** 32-bit Mersenne Twister with PyTorch's seeding: only the low 32 bits of the seed are used. */
export class Mt19937 {
  private readonly mt = new Uint32Array(N);
  private index = N;

  constructor(seed: number | bigint = 5489) {
    this.seed(seed);
  }

  /** init_genrand: torch keeps `seed & 0xffffffff`, so 2^32 seeds exactly like 0. */
  seed(seed: number | bigint): void {
    const s =
      typeof seed === 'bigint' ? Number(seed & 0xffffffffn) : Number(BigInt(Math.trunc(seed)) & 0xffffffffn);
    const mt = this.mt;
    mt[0] = s >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      // 1812433253 * prev + i, modulo 2^32 (Math.imul keeps the low 32 bits exactly).
      mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
    this.index = N;
  }

  private twist(): void {
    const mt = this.mt;
    for (let i = 0; i < N; i++) {
      const y = (mt[i] & UPPER_MASK) | (mt[(i + 1) % N] & LOWER_MASK);
      mt[i] = (mt[(i + M) % N] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0)) >>> 0;
    }
    this.index = 0;
  }

  /** Next tempered 32-bit output as an unsigned integer. */
  nextUint32(): number {
    if (this.index >= N) this.twist();
    let y = this.mt[this.index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  snapshot(): Mt19937State {
    return { state: this.mt.slice(), index: this.index };
  }

  restore(s: Mt19937State): void {
    this.mt.set(s.state);
    this.index = s.index;
  }
}

// Float32 scalar log / exp / expm1 as diffusers' 0-dim torch tensors compute them.
// Currently the correctly rounded float32 value; PyTorch 1.13 evaluates these through its vectorised
// (Sleef, 1-ulp) kernels even for one element, so an occasional last-bit difference is expected
// (it shows up as ~1e-7 relative differences in DPM-Solver trajectories).

const f = Math.fround;

export const logF32 = (x: number): number => f(Math.log(x));
export const expF32 = (x: number): number => f(Math.exp(x));
export const expm1F32 = (x: number): number => f(Math.expm1(x));

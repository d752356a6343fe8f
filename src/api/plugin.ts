// A Fastify plugin whose hooks and decorators apply to the whole app (what fastify-plugin does: Fastify skips
// encapsulation for functions carrying this symbol).
import type { FastifyInstance } from 'fastify';

export type AppPlugin<O> = (app: FastifyInstance, opts: O) => Promise<void>;

export function globalPlugin<O>(fn: AppPlugin<O>): AppPlugin<O> {
  (fn as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
  return fn;
}

// Request decorations added by the plugins.
import type { Actor } from '../domain/context.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth plugin on every non-public route. */
    actor: Actor;
    /** Set by the idempotency plugin when the request carries an Idempotency-Key. */
    idempotencyKey?: string;
  }
  interface FastifyContextConfig {
    /** Route needs no API key (health, signed image URLs). */
    public?: boolean;
  }
}

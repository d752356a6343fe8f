// Fastify plugin serving the dashboard: `/` and `/ui/*` answer the index page, `/assets/<hashed name>` the built
// files. No auth on these (API.md §1: the page signs in with an API key and calls the API like any client).
//
// Caching: hashed asset names never change content, so they are `immutable` for a year; the index page names the
// current hashes, so it is `no-cache` (always revalidated). Every response carries a strict Content-Security-Policy:
// scripts and styles only from this origin, no inline code, no framing.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { loadConfig } from '../src/config.ts';
import { type DashboardManifest, DEFAULT_DIST, ensureDashboardBuilt, readManifest } from './build.ts';

export interface DashboardOptions {
  /** where the build lives (default web/dist) */
  distDir?: string;
  /** build when dist is missing or stale (default true); false serves what is there */
  build?: boolean;
  /** server settings the page must mirror: upload caps for client-side checks; image origin for the CSP */
  config?: { uploadMaxFileBytes: number; uploadMaxFiles: number; publicBaseUrl: string };
}

interface Asset {
  body: Buffer;
  type: string;
}

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

export function contentSecurityPolicy(imageOrigins: string[]): string {
  const img = ["'self'", 'blob:', 'data:', ...imageOrigins].join(' ');
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    `img-src ${img}`,
    "connect-src 'self'",
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

function loadAssets(distDir: string, manifest: DashboardManifest): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  const names = [
    ...Object.values(manifest.assets),
    `${manifest.assets.js}.map`,
    `${manifest.assets.css}.map`,
  ];
  for (const name of names) {
    const ext = name.slice(name.lastIndexOf('.'));
    assets.set(name, {
      body: readFileSync(join(distDir, 'assets', name)),
      type: TYPES[ext] ?? 'application/octet-stream',
    });
  }
  return assets;
}

/** The upload caps go into the page as a <meta>, so client-side checks use this server's numbers. */
function renderIndex(template: string, limits: { maxFileBytes: number; maxFiles: number }): string {
  const json = JSON.stringify(limits).replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
  return template.replace('</head>', `  <meta name="atelier-limits" content="${json}" />\n  </head>`);
}

export const dashboardPlugin: FastifyPluginAsync<DashboardOptions> = async (app, opts) => {
  const distDir = opts.distDir ?? DEFAULT_DIST;
  const config = opts.config ?? loadConfig({}, {});
  // Two servers (or test files) may build at once; the loser of a swap re-reads the winner's build.
  let files: { manifest: DashboardManifest; index: string; assets: Map<string, Asset> } | undefined;
  for (let attempt = 0; !files; attempt++) {
    try {
      const manifest = opts.build === false ? readManifest(distDir) : await ensureDashboardBuilt(distDir);
      if (!manifest) throw new Error(`no dashboard build in ${distDir} (run: npx tsx web/build.ts)`);
      const template = readFileSync(join(distDir, 'index.html'), 'utf8');
      files = { manifest, index: template, assets: loadAssets(distDir, manifest) };
    } catch (e) {
      if (attempt >= 2 || (e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  const { assets } = files;
  const index = Buffer.from(
    renderIndex(files.index, { maxFileBytes: config.uploadMaxFileBytes, maxFiles: config.uploadMaxFiles }),
  );
  // `no-cache` means "revalidate": the ETag lets an unchanged index answer 304 without a body.
  const indexEtag = `"${createHash('sha256').update(index).digest('base64url').slice(0, 22)}"`;
  const csp = contentSecurityPolicy([new URL(config.publicBaseUrl).origin]);

  const secure = (reply: FastifyReply) =>
    reply
      .header('content-security-policy', csp)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('cross-origin-opener-policy', 'same-origin');

  const sendIndex = (req: FastifyRequest, reply: FastifyReply) => {
    secure(reply).header('cache-control', 'no-cache').header('etag', indexEtag);
    const match = req.headers['if-none-match'];
    if (match?.split(/\s*,\s*/).includes(indexEtag)) return reply.code(304).send();
    return reply.type('text/html; charset=utf-8').send(index);
  };

  // `public`: the API's auth hook lets these through (API.md §1: no auth on the dashboard's static files).
  const route = { config: { public: true } };
  app.get('/', route, sendIndex);
  app.get('/ui', route, sendIndex);
  app.get('/ui/*', route, sendIndex);
  app.get<{ Params: { file: string } }>('/assets/:file', route, async (req, reply) => {
    // The API treats a `.json` suffix as optional (API.md §1) and may strip it before routing.
    const asset = assets.get(req.params.file) ?? assets.get(`${req.params.file}.json`);
    if (!asset) return secure(reply).code(404).type('application/json').send({ error: 'Not found' });
    return secure(reply)
      .header('cache-control', 'public, max-age=31536000, immutable')
      .type(asset.type)
      .send(asset.body);
  });
};

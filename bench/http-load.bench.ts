// HTTP load on loopback (issue #12): requests/second and p50/p99 latency for GET /tunes/:id/prompts/:id,
// GET /prompts and POST /tunes/:id/prompts (JSON and multipart) at 1, 16 and 256 concurrent keep-alive
// connections, against the embedded default (SQLite, in-process worker and dispatcher, rate limit off), each beside
// a same-run baseline: a bare Fastify route returning a constant. Both servers run in their own child process (this
// file, started with a role argument); this process is only the load generator. Then 100 000 GETs and the server's
// RSS before and after (after a forced GC), to show there is no leak.
//
// Closed-loop load: each connection sends its next request when the previous answer arrived, so by Little's law
// mean latency ≈ connections / throughput. The connections are opened (one untimed request each) before timing. Then an open-loop run of each GET at a fixed rate below capacity (see
// openLoad). Bounded: every scenario runs a fixed time (BENCH_SECONDS) on loopback.
//   npm run bench -- http-load        BENCH_SECONDS=3 BENCH_LEAK_REQUESTS=100000
//   BENCH_ONLY=<substring>            only the scenarios whose name contains it (and skip the leak check)
//   BENCH_CPU_PROF=<dir>              both servers run under `node --cpu-prof`, profiles in <dir>/serve-atelier|bare
//   BENCH_OPEN_RATE=<req/s>           rate of the open-loop GET runs (default: ¼ of Atelier's 1/16-conn rates)
import { type ChildProcess, fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const LEAK_REQUESTS = Number(process.env.BENCH_LEAK_REQUESTS ?? 100_000);
const CONNECTIONS = [1, 16, 256];
const ONLY = process.env.BENCH_ONLY;
const CPU_PROF = process.env.BENCH_CPU_PROF;
const OPEN_RATE = Number(process.env.BENCH_OPEN_RATE ?? 0);

interface Ready {
  port: number;
  key?: string;
  tuneId?: number;
  promptId?: number;
}

// ---------------------------------------------------------------- server roles (child processes)

async function serveAtelier(): Promise<Ready> {
  const { buildApp } = await import('../src/api/app.ts');
  const { openRuntime } = await import('../src/cli/runtime.ts');
  const { loadConfig } = await import('../src/config.ts');
  const { createApiKey } = await import('../src/domain/keys.ts');
  const dir = mkdtempSync(join(tmpdir(), 'atelier-bench-http-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const config = loadConfig(
    {
      dataDir: dir,
      logLevel: 'silent',
      rateLimitPerMinute: 0,
      fastTrainMs: 20,
      publicBaseUrl: 'http://bench.test',
    },
    {},
  );
  const rt = await openRuntime(config);
  const app = await buildApp(config, { svc: rt.svc });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const key = (await createApiKey(rt.svc.db, { account: 'bench' })).key;
  const port = (app.server.address() as { port: number }).port;
  // one trained tune and one finished prompt to read
  const img = `data:image/jpeg;base64,${(await tinyJpeg()).toString('base64')}`;
  const t = await call(port, key, 'POST', '/tunes', {
    tune: { title: 'bench', name: 'man', branch: 'fast', images: [img, img, img, img] },
  });
  const tuneId = (t.json as { id: number }).id;
  for (;;) {
    const r = await call(port, key, 'GET', `/tunes/${tuneId}`);
    if ((r.json as { trained_at?: string }).trained_at) break;
    await new Promise((res) => setTimeout(res, 20));
  }
  const p = await call(port, key, 'POST', `/tunes/${tuneId}/prompts`, {
    prompt: { text: 'ohwx man', num_images: 1 },
  });
  const promptId = (p.json as { id: number }).id;
  for (;;) {
    const r = await call(port, key, 'GET', `/prompts/${promptId}`);
    if ((r.json as { status?: string }).status === 'completed') break;
    await new Promise((res) => setTimeout(res, 20));
  }
  return { port, key, tuneId, promptId };
}

async function tinyJpeg(): Promise<Buffer> {
  const sharp = (await import('sharp')).default;
  return sharp({ create: { width: 64, height: 64, channels: 3, background: '#c84' } })
    .jpeg()
    .toBuffer();
}

async function serveBare(): Promise<Ready> {
  const Fastify = (await import('fastify')).default;
  const app = Fastify({ logger: false });
  const constant = { id: 1, text: 'ohwx man', status: 'completed' };
  app.get('/x', async () => constant);
  app.post('/x', async (req) => ({ ...constant, echo: typeof req.body }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  return { port: (app.server.address() as { port: number }).port };
}

if (process.argv[2] === 'serve-atelier' || process.argv[2] === 'serve-bare') {
  const ready = await (process.argv[2] === 'serve-atelier' ? serveAtelier() : serveBare());
  let peakRss = process.memoryUsage().rss;
  setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 50).unref();
  process.on('message', (m: string) => {
    if (m === 'mem') {
      for (let i = 0; i < 3; i++) globalThis.gc?.();
      const rss = process.memoryUsage().rss;
      peakRss = Math.max(peakRss, rss);
      process.send?.({ rss, heapUsed: process.memoryUsage().heapUsed, peakRss });
    }
    if (m === 'cpu') {
      const u = process.cpuUsage();
      process.send?.({ cpuUs: u.user + u.system });
    }
    if (m === 'exit') process.exit(0); // a normal exit, so that --cpu-prof writes its profile
  });
  process.send?.(ready);
}

// ---------------------------------------------------------------- load generator

async function call(
  port: number,
  key: string | undefined,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: {
      ...(key && { authorization: `Bearer ${key}` }),
      ...(body !== undefined && { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

interface RequestSpec {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

interface Result {
  requests: number;
  errors: number;
  rps: number;
  p50: number;
  p99: number;
}

function percentile(sorted: Float64Array, q: number): number {
  if (!sorted.length) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** One request on `agent`; its latency is counted from `t0` (its send time, or its scheduled time in open loop). */
function send(port: number, spec: RequestSpec, agent: http.Agent, t0: number, tally: Tally): Promise<void> {
  return new Promise<void>((resolve) => {
    const req = http.request(
      { host: '127.0.0.1', port, method: spec.method, path: spec.path, headers: spec.headers, agent },
      (res) => {
        res.on('data', () => {});
        res.on('end', () => {
          tally.latencies.push(performance.now() - t0);
          if (res.statusCode === undefined || res.statusCode >= 400) tally.errors++;
          resolve();
        });
      },
    );
    req.on('error', () => {
      tally.errors++;
      resolve();
    });
    req.end(spec.body);
  });
}

interface Tally {
  latencies: number[];
  errors: number;
}

function summary(tally: Tally, start: number): Result {
  const elapsed = (performance.now() - start) / 1000;
  const sorted = Float64Array.from(tally.latencies).sort();
  return {
    requests: tally.latencies.length,
    errors: tally.errors,
    rps: tally.latencies.length / elapsed,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
  };
}

/** `connections` keep-alive sockets, each looping request → response until the time or request budget is spent. */
async function load(
  port: number,
  spec: RequestSpec,
  connections: number,
  budget: { seconds?: number; requests?: number },
): Promise<Result & { setupMs: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  // Open every connection first (one untimed request each, all at once): the timed phase measures requests on
  // established keep-alive connections; `setupMs` says how long the slowest connection took to get its first answer.
  const warm: Tally = { latencies: [], errors: 0 };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: connections }, () => send(port, spec, agent, t0, warm)));
  const setupMs = Math.max(...warm.latencies);
  const tally: Tally = { latencies: [], errors: warm.errors };
  let issued = 0;
  const start = performance.now();
  const end = budget.seconds ? start + budget.seconds * 1000 : Number.POSITIVE_INFINITY;
  const maxRequests = budget.requests ?? Number.POSITIVE_INFINITY;
  const worker = async () => {
    while (performance.now() < end && issued < maxRequests) {
      issued++;
      await send(port, spec, agent, performance.now(), tally);
    }
  };
  await Promise.all(Array.from({ length: connections }, worker));
  const result = { ...summary(tally, start), setupMs };
  agent.destroy();
  return result;
}

/**
 * Open loop: requests start at a fixed `rate` per second whatever the answers do (up to 256 sockets in flight;
 * more wait in the agent's queue), and each latency counts from the request's scheduled start, so time spent
 * queued behind a slow answer is included (no coordinated omission). Below capacity this is the latency a client
 * population sending that rate sees; Little's law does not tie it to a connection count.
 */
async function openLoad(port: number, spec: RequestSpec, rate: number, seconds: number): Promise<Result> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const tally: Tally = { latencies: [], errors: 0 };
  const total = Math.max(1, Math.round(rate * seconds));
  const pending: Promise<void>[] = [];
  const start = performance.now();
  for (let i = 0; i < total; ) {
    const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000) + 1);
    for (; i < due; i++) pending.push(send(port, spec, agent, start + (i * 1000) / rate, tally));
    await new Promise((res) => setTimeout(res, 1));
  }
  await Promise.all(pending);
  const result = summary(tally, start);
  agent.destroy();
  return result;
}

async function startServer(role: string): Promise<{ child: ChildProcess; ready: Ready }> {
  const child = fork(new URL(import.meta.url).pathname, [role], {
    execArgv: [
      '--import',
      'tsx',
      '--expose-gc',
      ...(CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF}/${role}`] : []),
    ],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ready = await new Promise<Ready>((resolve, reject) => {
    child.once('message', (m) => resolve(m as Ready));
    child.once('exit', (code) => reject(new Error(`${role} exited with ${code}`)));
  });
  return { child, ready };
}

/** The server process' CPU time so far (user + system, µs). */
function cpuUs(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    child.once('message', (m) => resolve((m as { cpuUs: number }).cpuUs));
    child.send('cpu');
  });
}

/** `load` plus the server's CPU time per answered request: unlike req/s, barely moved by other processes' load. */
async function measured(child: ChildProcess, port: number, spec: RequestSpec, connections: number) {
  const cpu0 = await cpuUs(child);
  const r = await load(port, spec, connections, { seconds: SECONDS });
  return { ...r, cpuPerReq: ((await cpuUs(child)) - cpu0) / Math.max(1, r.requests) };
}

function memory(child: ChildProcess): Promise<Mem> {
  return new Promise((resolve) => {
    child.once('message', (m) => resolve(m as Mem));
    child.send('mem');
  });
}

function multipartBody(fields: [string, string][]): { body: Buffer; type: string } {
  const boundary = 'benchBoundary7d1f';
  const parts = fields.map(
    ([k, v]) => `--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`,
  );
  return {
    body: Buffer.from(`${parts.join('')}--${boundary}--\r\n`),
    type: `multipart/form-data; boundary=${boundary}`,
  };
}

const fmt = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '-');
const mb = (b: number) => `${(b / 2 ** 20).toFixed(1)} MB`;

async function main() {
  const atelier = await startServer('serve-atelier');
  const bare = await startServer('serve-bare');
  const { port, key, tuneId, promptId } = atelier.ready;
  const auth = { authorization: `Bearer ${key}` };
  const jsonBody = Buffer.from(JSON.stringify({ prompt: { text: 'ohwx man, bench', num_images: 1 } }));
  const mp = multipartBody([
    ['prompt[text]', 'ohwx man, bench'],
    ['prompt[num_images]', '1'],
  ]);
  const bareGet: RequestSpec = { method: 'GET', path: '/x', headers: {} };
  const barePost: RequestSpec = {
    method: 'POST',
    path: '/x',
    headers: { 'content-type': 'application/json' },
    body: jsonBody,
  };
  const scenarios: { name: string; spec: RequestSpec; baseline: RequestSpec }[] = [
    {
      name: 'GET /tunes/:id/prompts/:id',
      spec: { method: 'GET', path: `/tunes/${tuneId}/prompts/${promptId}`, headers: auth },
      baseline: bareGet,
    },
    { name: 'GET /prompts', spec: { method: 'GET', path: '/prompts', headers: auth }, baseline: bareGet },
    {
      name: 'POST /tunes/:id/prompts json',
      spec: {
        method: 'POST',
        path: `/tunes/${tuneId}/prompts`,
        headers: { ...auth, 'content-type': 'application/json' },
        body: jsonBody,
      },
      baseline: barePost,
    },
    {
      name: 'POST /tunes/:id/prompts multipart',
      spec: {
        method: 'POST',
        path: `/tunes/${tuneId}/prompts`,
        headers: { ...auth, 'content-type': mp.type },
        body: mp.body,
      },
      baseline: barePost,
    },
  ];

  const base0 = await memory(atelier.child);
  // warm-up, then the memory baseline for the leak check
  await load(port, scenarios[0].spec, 16, { requests: 5000 });
  await load(port, scenarios[1].spec, 16, { requests: 2000 });
  const warm = await memory(atelier.child);

  console.log(
    `${'scenario'.padEnd(34)} ${'conn'.padStart(4)} ${'req/s'.padStart(7)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'err'.padStart(3)} ${'cpu µs'.padStart(6)} ${'setup'.padStart(6)} | ${'bare req/s'.padStart(10)} ${'p50'.padStart(6)} ${'p99'.padStart(6)} ${'cpu µs'.padStart(6)} | ratio  cpu ratio`,
  );
  // Each GET also runs open loop right after its closed-loop cells (before the POST cells fill the queue and keep
  // the in-process worker busy), at OPEN_RATE or a quarter of the lower of Atelier's 1- and 16-connection rates:
  // well below its capacity even when other processes take part of the machine.
  const openLines: string[] = [];
  for (const s of scenarios.filter((x) => !ONLY || x.name.includes(ONLY))) {
    const rates: number[] = [];
    for (const c of CONNECTIONS) {
      const r = await measured(atelier.child, port, s.spec, c);
      if (c <= 16) rates.push(r.rps);
      const b = await measured(bare.child, bare.ready.port, s.baseline, c);
      console.log(
        `${s.name.padEnd(34)} ${String(c).padStart(4)} ${fmt(r.rps, 0).padStart(7)} ${fmt(r.p50, 2).padStart(7)} ${fmt(r.p99, 2).padStart(7)} ${String(r.errors).padStart(3)} ${fmt(r.cpuPerReq, 0).padStart(6)} ${fmt(r.setupMs, 0).padStart(6)} | ${fmt(b.rps, 0).padStart(10)} ${fmt(b.p50, 2).padStart(6)} ${fmt(b.p99, 2).padStart(6)} ${fmt(b.cpuPerReq, 0).padStart(6)} | ${fmt(r.rps / b.rps, 2).padStart(5)}  ${fmt(b.cpuPerReq / r.cpuPerReq, 2)}`,
      );
    }
    if (s.spec.method !== 'GET') continue;
    const rate = OPEN_RATE || Math.max(1, Math.round(Math.min(...rates) / 4));
    const r = await openLoad(port, s.spec, rate, SECONDS);
    const b = await openLoad(bare.ready.port, s.baseline, rate, SECONDS);
    openLines.push(
      `${s.name.padEnd(34)} ${String(rate).padStart(7)} ${fmt(r.rps, 0).padStart(8)} ${fmt(r.p50, 2).padStart(7)} ${fmt(r.p99, 2).padStart(7)} ${String(r.errors).padStart(6)} | ${fmt(b.p50, 2).padStart(8)} ${fmt(b.p99, 2).padStart(6)}`,
    );
  }
  console.log(
    "Timed on established keep-alive connections; setup: ms until the slowest of the cell's connections had its " +
      'first (untimed) answer.\ncpu µs: server CPU time (user + system) per answered request; cpu ratio = bare / ' +
      'Atelier, the throughput ratio the two would reach on a dedicated core. POST cells include the in-process ' +
      'worker generating images meanwhile.',
  );
  console.log(
    `\nopen loop (fixed arrival rate, latency from the scheduled start), ${SECONDS} s each:\n` +
      `${'scenario'.padEnd(34)} ${'rate/s'.padStart(7)} ${'served/s'.padStart(8)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'errors'.padStart(6)} | ${'bare p50'.padStart(8)} ${'p99'.padStart(6)}`,
  );
  for (const line of openLines) console.log(line);

  if (!ONLY) await leakCheck(atelier, bare.child, scenarios[0].spec, base0, warm);
  // a normal exit of both servers, so that --cpu-prof writes their profiles
  await Promise.all(
    [atelier.child, bare.child].map((child) => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.send('exit');
      return exited;
    }),
  );
  if (CPU_PROF) console.log(`CPU profiles of both servers written under ${CPU_PROF}/<role>`);
}

type Mem = { rss: number; heapUsed: number; peakRss: number };

/** The same GETs the clients poll with, LEAK_REQUESTS of them, then RSS after a forced GC. */
async function leakCheck(
  atelier: { child: ChildProcess; ready: Ready },
  bareChild: ChildProcess,
  spec: RequestSpec,
  base0: Mem,
  warm: Mem,
) {
  const before = await memory(atelier.child);
  const leak = await load(atelier.ready.port, spec, 16, { requests: LEAK_REQUESTS });
  const afterLeak = await memory(atelier.child);
  const bareMem = await memory(bareChild);
  console.log(
    `\nmemory (atelier server, RSS after GC): start ${mb(base0.rss)}, after warm-up ${mb(warm.rss)}, ` +
      `before ${LEAK_REQUESTS} GETs ${mb(before.rss)}, after ${mb(afterLeak.rss)} ` +
      `(${fmt(((afterLeak.rss - before.rss) / before.rss) * 100)} %; heap ${mb(before.heapUsed)} → ${mb(afterLeak.heapUsed)}), ` +
      `${leak.errors} errors, peak RSS ${mb(afterLeak.peakRss)}`,
  );
  console.log(`memory (bare server): RSS ${mb(bareMem.rss)}, peak ${mb(bareMem.peakRss)}`);
}

if (!process.argv[2]) await main();

// Lifecycles: Astria timestamps, prompts waiting for training, mock images of the requested size and count, failed
// tunes failing their prompts with user_error, cancellation through the AbortSignal, and deletion.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import type { GenerationRequest, Generator, RunOptions } from '../../src/domain/ports.ts';
import { FastMockGenerator } from '../../src/jobs/fast-generator.ts';
import { FastTrainer } from '../../src/train/fast.ts';
import {
  completedPrompt,
  dataUrl,
  type Harness,
  harness,
  receiver,
  trainedTune,
  waitFor,
} from './helpers.ts';

let h: Harness;
before(async () => {
  h = await harness();
});
after(() => h.close());

test('branch=fast returns mock JPEGs of the requested size and count, visibly marked, fetchable without a key', async () => {
  const t = await trainedTune(h);
  const r = await h.req({
    method: 'POST',
    url: `/tunes/${t.id}/prompts`,
    payload: { prompt: { text: 'ohwx man', num_images: 3, w: 320, h: 192, seed: 42, cfg_scale: 9 } },
  });
  const p = await completedPrompt(h, `/prompts/${r.json().id}`);
  assert.equal(p.status, 'completed');
  assert.equal(p.seed, 42);
  assert.equal(p.images.length, 3);
  assert.ok(p.notes.some((n: string) => /mock/.test(n)));
  assert.ok(
    p.notes.some((n: string) => /cfg_scale/.test(n)),
    'cfg_scale is recorded as not applied',
  );
  const hashes = new Set<string>();
  for (const img of p.images) {
    const res = await h.app.inject({ method: 'GET', url: new URL(img.url).pathname }); // no Authorization header
    assert.equal(res.statusCode, 200);
    const buf = res.rawPayload;
    const meta = await sharp(buf).metadata();
    assert.equal(meta.format, 'jpeg');
    assert.equal(meta.width, 320);
    assert.equal(meta.height, 192);
    // The MOCK letters are near-black on a light striped background.
    const { channels } = await sharp(buf).stats();
    assert.ok(channels[0].min < 60 && channels[0].max > 150, 'dark letters on a light background');
    hashes.add(buf.toString('base64'));
  }
  assert.equal(hashes.size, 3, 'each image differs');
});

test('aspect_ratio sets the size when w/h are blank', async () => {
  const t = await trainedTune(h);
  const r = await h.req({
    method: 'POST',
    url: `/tunes/${t.id}/prompts`,
    payload: { prompt: { text: 'ohwx man', num_images: 1, aspect_ratio: '16:9' } },
  });
  const p = await completedPrompt(h, `/prompts/${r.json().id}`);
  assert.equal(p.w % 8, 0);
  assert.ok(p.w > p.h);
  const meta = await sharp(
    (await h.app.inject({ method: 'GET', url: new URL(p.images[0].url).pathname })).rawPayload,
  ).metadata();
  assert.equal(meta.width, p.w);
  assert.equal(meta.height, p.h);
});

test('a prompt on a tune still training waits (no job) and runs once the tune is trained', async () => {
  const slow = await harness({ fastTrainMs: 600 });
  try {
    const images = [await dataUrl(), await dataUrl(), await dataUrl(), await dataUrl()];
    const t = (
      await slow.req({
        method: 'POST',
        url: '/tunes',
        payload: { tune: { title: 'slow', name: 'man', branch: 'fast', images } },
      })
    ).json();
    const p = await slow.req({
      method: 'POST',
      url: `/tunes/${t.id}/prompts`,
      payload: { prompt: { text: 'ohwx man', num_images: 1 } },
    });
    assert.equal(p.statusCode, 201);
    assert.equal(p.json().status, 'queued');
    const jobs = await slow.rt.svc.db.selectFrom('jobs').selectAll().where('type', '=', 'prompt').execute();
    assert.equal(jobs.length, 0, 'held until the tune is trained');
    const done = await completedPrompt(slow, `/prompts/${p.json().id}`);
    const tune = (await slow.req({ method: 'GET', url: `/tunes/${t.id}` })).json();
    assert.equal(done.status, 'completed');
    assert.ok(done.started_training_at >= tune.trained_at, 'processing started after training ended');
    assert.ok(tune.started_training_at <= tune.trained_at);
    assert.equal(tune.progress, 1);
  } finally {
    await slow.close();
  }
});

test('an image_urls entry that 404s fails the tune with user_error; its waiting prompts fail with the tune error', async () => {
  const rx = await receiver(() => 404);
  try {
    const r = await h.req({
      method: 'POST',
      url: '/tunes',
      payload: {
        tune: {
          title: 'broken urls',
          name: 'man',
          branch: 'fast',
          image_urls: [`${rx.base}/a.jpg`, `${rx.base}/b.jpg`, `${rx.base}/c.jpg`, `${rx.base}/d.jpg`],
        },
      },
    });
    assert.equal(r.statusCode, 201, r.body);
    const waiting = await h.req({
      method: 'POST',
      url: `/tunes/${r.json().id}/prompts`,
      payload: { prompt: { text: 'ohwx man' } },
    });
    const t = await waitFor(async () => {
      const g = (await h.req({ method: 'GET', url: `/tunes/${r.json().id}` })).json();
      return g.status === 'failed' ? g : null;
    }, 'tune failed');
    assert.match(t.user_error, /image_urls\[0\].*404/);
    assert.equal(t.trained_at, null);
    assert.ok(t.failed_at);
    assert.deepEqual(t.orig_images, [], 'nothing half-stored');
    const p = await completedPrompt(h, `/prompts/${waiting.json().id}`);
    assert.equal(p.status, 'failed');
    assert.match(p.user_error, /tune failed/);
    assert.ok(p.trained_at);
    const late = await h.req({
      method: 'POST',
      url: `/tunes/${t.id}/prompts`,
      payload: { prompt: { text: 'ohwx man' } },
    });
    assert.equal(late.statusCode, 201);
    assert.equal(late.json().status, 'failed');
    assert.match(late.json().user_error, /404/);
  } finally {
    await rx.close();
  }
});

/** A generator that runs until it is aborted (to test cancellation), reporting progress each tick. */
class HangingGenerator implements Generator {
  readonly name = 'hanging';
  started = 0;
  capabilities() {
    return { ...new FastMockGenerator().capabilities(), branches: ['fast'] };
  }
  async generate(_req: GenerationRequest, opts: RunOptions) {
    this.started++;
    let step = 0;
    await new Promise((_, reject) => {
      const t = setInterval(() => opts.onProgress?.({ phase: 'denoising', step: ++step, total: 1000 }), 5);
      opts.signal.addEventListener('abort', () => {
        clearInterval(t);
        reject(opts.signal.reason);
      });
    });
    return { images: [], notes: [] };
  }
}

test('cancel: POST /prompts/:id/cancel aborts a running prompt via its signal; final states answer 409', async () => {
  const gen = new HangingGenerator();
  const c = await harness({}, { engines: { generators: [gen], trainers: [new FastTrainer(10)] } });
  try {
    const t = await trainedTune(c);
    const r = await c.req({
      method: 'POST',
      url: `/tunes/${t.id}/prompts`,
      payload: { prompt: { text: 'ohwx man' } },
    });
    const id = r.json().id;
    const running = await waitFor(async () => {
      const p = (await c.req({ method: 'GET', url: `/prompts/${id}` })).json();
      return p.status === 'processing' && p.progress_step > 0 ? p : null;
    }, 'processing with progress');
    assert.equal(running.phase, 'denoising');
    assert.equal(running.progress_total, 1000);
    const cancel = await c.req({ method: 'POST', url: `/prompts/${id}/cancel` });
    assert.equal(cancel.statusCode, 200);
    assert.equal(cancel.json().status, 'cancelled');
    await waitFor(async () => {
      const job = await c.rt.svc.db
        .selectFrom('jobs')
        .selectAll()
        .where('subject_id', '=', id)
        .where('type', '=', 'prompt')
        .executeTakeFirst();
      return job?.status === 'cancelled';
    }, 'job cancelled');
    assert.equal((await c.req({ method: 'POST', url: `/prompts/${id}/cancel` })).statusCode, 409);
    assert.equal((await c.req({ method: 'GET', url: `/prompts/${id}` })).json().status, 'cancelled');
    assert.equal(gen.started, 1);
  } finally {
    await c.close();
  }
});

test('DELETE /prompts/:id removes the prompt and its images; a queued prompt is cancelled first', async () => {
  const t = await trainedTune(h);
  const r = await h.req({
    method: 'POST',
    url: `/tunes/${t.id}/prompts`,
    payload: { prompt: { text: 'ohwx man', num_images: 1 } },
  });
  const p = await completedPrompt(h, `/prompts/${r.json().id}`);
  const path = new URL(p.images[0].url).pathname;
  assert.equal((await h.req({ method: 'DELETE', url: `/tunes/${t.id}/prompts/${p.id}` })).statusCode, 200);
  assert.equal((await h.req({ method: 'GET', url: `/prompts/${p.id}` })).statusCode, 404);
  assert.equal((await h.app.inject({ method: 'GET', url: path })).statusCode, 404);
  assert.equal((await h.req({ method: 'DELETE', url: `/prompts/${p.id}` })).statusCode, 404);
});

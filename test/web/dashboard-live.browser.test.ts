// Live state from the real server, no scripted events: queue positions of queued prompts in the gallery (two
// accounts, moving when the one ahead is cancelled), tune training progress over GET /tunes/:id/events (polling
// only past the stream cap), and the ControlNet picker's availability from GET /conditioning. Screenshots go to
// test-artifacts/dashboard-{queue,training,controlnet}.png.
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Page } from 'playwright-core';
import { addBaseTune } from '../../src/domain/base-tunes.ts';
import { controlnetDir } from '../../src/engine/conditioning.ts';
import { modelsRoot } from '../../src/engine/models-dir.ts';
import { MAX_OPEN_STREAMS } from '../../web/src/api/live.ts';
import { dataUrl, type Json, waitFor } from '../api/helpers.ts';
import { fixturePath } from '../helpers/fixtures.ts';
import {
  ARTIFACTS,
  browserMissing,
  lowContrastText,
  type Stack,
  startStack,
  unlabelledControls,
} from './browser.ts';

const skip = browserMissing();
const BASE_TUNE = 690400;
let s: Stack;
let page: Page;
/** "GET /path" of every request the page made */
const requests: string[] = [];
let slowTune: Json;

before(async () => {
  if (skip) return;
  // One job at a time, and a training that takes 10 minutes: while it trains, everything else waits. The test
  // writes the training progress into the tune row itself (as a trainer in another process would), so what the
  // page shows does not depend on timing on a loaded machine.
  s = await startStack({ fastTrainMs: 600_000, workerConcurrency: 1 });
  page = s.page;
  page.on('request', (r) => requests.push(`${r.method()} ${new URL(r.url()).pathname}`));
  await addBaseTune(s.h.rt.svc, { id: BASE_TUNE, title: 'shared base (mock)', branch: 'fast' });
  slowTune = await createTune('slow tune');
  await waitFor(
    async () => (await s.h.req({ method: 'GET', url: `/tunes/${slowTune.id}` })).json().status === 'training',
    'the slow tune training',
  );
  await page.goto(`${s.base}/`);
  await page.evaluate((key) => sessionStorage.setItem('atelier.apiKey', key), s.h.keyA);
});
after(async () => {
  await s?.close();
});

async function createTune(title: string): Promise<Json> {
  const images = await Promise.all([0, 1, 2, 3].map(() => dataUrl()));
  const r = await s.h.req({
    method: 'POST',
    url: '/tunes',
    payload: { tune: { title, name: 'man', branch: 'fast', images } },
  });
  assert.equal(r.statusCode, 201, r.body);
  return r.json();
}

async function createPrompt(key: string, text: string): Promise<Json> {
  const r = await s.h.req({
    method: 'POST',
    url: `/tunes/${BASE_TUNE}/prompts`,
    key,
    payload: { prompt: { text, num_images: 1 } },
  });
  assert.equal(r.statusCode, 201, r.body);
  return r.json();
}

const shot = (name: string) =>
  page.screenshot({ path: join(ARTIFACTS, `dashboard-${name}.png`), fullPage: true });

async function accessibilityBasics(where: string) {
  assert.deepEqual(await unlabelledControls(page), [], `${where}: controls without a label`);
  assert.deepEqual(await lowContrastText(page), [], `${where}: text under WCAG AA contrast`);
}

const progressText = (card: string) => page.locator(`${card} .progress-text`);

test('the gallery shows each queued prompt’s place in the queue, and moves it up when the one ahead goes', {
  skip: skip ?? false,
}, async () => {
  // Alice's training runs, so the fair pick serves Bob first: his prompt is 1, Alice's two are 2 and 3.
  const a1 = await createPrompt(s.h.keyA, 'a lighthouse, first');
  const a2 = await createPrompt(s.h.keyA, 'a lighthouse, second');
  const b1 = await createPrompt(s.h.keyB, 'a harbour');
  const now = async (p: Json, key: string) =>
    (await s.h.req({ method: 'GET', url: `/prompts/${p.id}`, key })).json().queue_position;
  assert.deepEqual([await now(b1, s.h.keyB), await now(a1, s.h.keyA), await now(a2, s.h.keyA)], [1, 2, 3]);

  await page.goto(`${s.base}/ui/gallery`);
  const card = (p: Json) => `li.prompt[data-prompt-id="${p.id}"]`;
  await progressText(card(a1)).filter({ hasText: 'Queued (position 2)' }).waitFor({ timeout: 10_000 });
  await progressText(card(a2)).filter({ hasText: 'Queued (position 3)' }).waitFor({ timeout: 10_000 });
  assert.equal(await page.locator(card(b1)).count(), 0, "Bob's prompt is not on Alice's page");
  await shot('queue');
  await accessibilityBasics('gallery with queued prompts');

  // Bob cancels: the streams of Alice's prompts bring the new places without a reload.
  const cancel = await s.h.req({ method: 'POST', url: `/prompts/${b1.id}/cancel`, key: s.h.keyB });
  assert.equal(cancel.statusCode, 200, cancel.body);
  await progressText(card(a1)).filter({ hasText: 'Queued (position 1)' }).waitFor({ timeout: 10_000 });
  await progressText(card(a2)).filter({ hasText: 'Queued (position 2)' }).waitFor({ timeout: 10_000 });
  assert.ok(requests.includes(`GET /prompts/${a1.id}/events`), 'followed over the event stream');
  // Leave the queue to the tunes of the next test.
  for (const p of [a1, a2]) await s.h.req({ method: 'POST', url: `/prompts/${p.id}/cancel` });
});

test('tune training progress comes from the event stream; tunes past the stream cap are polled', {
  skip: skip ?? false,
}, async () => {
  const card = `li.tune[data-tune-id="${slowTune.id}"]`;
  /** Moves the slow tune's training progress in the database twice; the card must show each value. */
  const liveProgress = async () => {
    for (const percent of [23, 67]) {
      await s.h.rt.svc.db
        .updateTable('tunes')
        .set({ progress: percent / 100 })
        .where('id', '=', slowTune.id)
        .execute();
      await progressText(card)
        .filter({ hasText: new RegExp(`^Training · ${percent}%`) })
        .waitFor({ timeout: 15_000 });
    }
  };

  // One tune to watch: it follows the stream and is never polled while it trains.
  requests.length = 0;
  await page.goto(`${s.base}/ui/tunes`);
  await liveProgress();
  await shot('training');
  await accessibilityBasics('tunes page while training');
  assert.ok(requests.includes(`GET /tunes/${slowTune.id}/events`), requests.join(', '));
  assert.equal(requests.filter((r) => r === `GET /tunes/${slowTune.id}`).length, 0, 'not polled');

  // Three more tunes queue behind it: four to watch, one more than the streams allowed, so one is polled.
  assert.equal(MAX_OPEN_STREAMS, 3);
  const waiting = [
    await createTune('waiting 1'),
    await createTune('waiting 2'),
    await createTune('waiting 3'),
  ];
  requests.length = 0;
  await page.goto(`${s.base}/ui/tunes`);
  await liveProgress();
  // Queued tunes say where their training stands in the queue, whether streamed or polled.
  for (const [i, t] of waiting.entries())
    await progressText(`li.tune[data-tune-id="${t.id}"]`)
      .filter({ hasText: `Queued (position ${i + 1})` })
      .waitFor({ timeout: 10_000 });
  await new Promise((r) => setTimeout(r, 2000)); // long enough for a poller to ask at least once more
  const all = [slowTune, ...waiting].map((t) => t.id as number);
  const streamed = all.filter((id) => requests.includes(`GET /tunes/${id}/events`));
  const polled = all.filter((id) => requests.filter((r) => r === `GET /tunes/${id}`).length >= 2);
  assert.equal(streamed.length, MAX_OPEN_STREAMS, `streams: ${streamed}; requests: ${requests.join(', ')}`);
  assert.deepEqual(
    polled,
    all.filter((id) => !streamed.includes(id)),
    'exactly the tunes without a stream are polled',
  );
});

test('the ControlNet picker offers the types this server can run and says what to install for the others', {
  skip: skip ?? false,
}, async () => {
  // Install the tiny canny ControlNet fixture while the server runs, as an operator would copy one in.
  const dir = controlnetDir(modelsRoot(s.h.dir), 'canny');
  mkdirSync(dir, { recursive: true });
  symlinkSync(
    fixturePath('sd-reference', 'checkpoint', 'controlnet-tiny-public.safetensors'),
    join(dir, 'control_v11p_sd15_canny.safetensors'),
  );
  const statuses = new Map<string, Json>(
    (await s.h.req({ method: 'GET', url: '/conditioning' }))
      .json()
      .conditioning.map((c: Json) => [c.type, c]),
  );
  assert.equal(statuses.get('canny')?.available, true);
  assert.equal(statuses.get('depth')?.available, false);

  await page.goto(`${s.base}/ui/prompt?tune=${BASE_TUNE}`);
  const group = page.locator('details[data-group="img2img"]');
  await group.locator(':scope > summary').click();
  const select = group.locator('[data-field="controlnet"] select');
  await select.waitFor();
  const options = await select.locator('option').evaluateAll((els) =>
    (els as HTMLOptionElement[]).map((o) => ({
      value: o.value,
      disabled: o.disabled,
      text: o.textContent,
    })),
  );
  for (const o of options.filter((x) => x.value !== '')) {
    const st = statuses.get(o.value);
    assert.ok(st, `${o.value} is a type the server knows`);
    assert.equal(o.disabled, !st.available, `${o.value}: disabled exactly when unavailable`);
    if (!st.available) assert.equal(o.text, `${o.value} (not available)`);
  }
  await select.selectOption('canny');
  assert.equal(await select.inputValue(), 'canny');

  const available = group.locator('[data-field="controlnet"] p.conditioning-available');
  assert.match(
    (await available.textContent()) ?? '',
    /^Available on this server: canny\. \d+ more need an install/,
  );
  // The picker names that line as its description, so screen readers read it with the field.
  const describedBy = (await select.getAttribute('aria-describedby')) ?? '';
  assert.ok(describedBy.split(' ').includes((await available.getAttribute('id')) ?? '-'), describedBy);
  // Each unavailable type, in a disclosure under the field: what to install, or (when installing cannot help) why.
  const more = group.locator('details.conditioning');
  await more.locator(':scope > summary').click();
  const missing = [...statuses.values()].filter((st) => !st.available);
  assert.ok(missing.some((st) => st.type === 'depth'));
  assert.equal(await more.locator('li').count(), missing.length);
  for (const st of missing) {
    const line = (await more.locator(`li[data-type="${st.type}"]`).textContent()) ?? '';
    assert.ok(line.includes(st.install ?? st.reason), `${st.type}: ${line}`);
  }
  // The field's own help no longer repeats the availability prose the OpenAPI description carries.
  const help = (await group.locator('[data-field="controlnet"] p.help').first().textContent()) ?? '';
  assert.ok(!help.includes('Available on this server'), help);
  await group.screenshot({ path: join(ARTIFACTS, 'dashboard-controlnet.png') });
  await accessibilityBasics('prompt form with ControlNet availability');
});

test('no CSP violations, console errors or unexpected failed requests', { skip: skip ?? false }, () => {
  assert.deepEqual(s.problems, []);
  assert.deepEqual(s.failed, []);
});

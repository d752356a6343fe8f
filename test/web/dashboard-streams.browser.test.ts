// Many running prompts must not starve the page: each open event stream holds one of the browser's ~6
// connections per host, so the gallery streams only a few and polls the rest, and API calls still go through.
// The same crowd of prompts checks the gallery's paging.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { MAX_OPEN_STREAMS } from '../../web/src/api/live.ts';
import { GALLERY_PAGE } from '../../web/src/views/gallery.ts';
import { dataUrl } from '../api/helpers.ts';
import { browserMissing, type Stack, startStack } from './browser.ts';

const skip = browserMissing();
let s: Stack;
const PENDING = GALLERY_PAGE + 2; // more than the browser's connections per host, and more than a page

before(async () => {
  if (skip) return;
  // The tune "trains" for two minutes, so every prompt on it stays queued (and its stream open) during the test.
  s = await startStack({ fastTrainMs: 120_000 });
});
after(async () => {
  await s?.close();
});

test('with more running prompts than connections, the gallery still answers clicks', {
  skip: skip ?? false,
}, async () => {
  assert.ok(MAX_OPEN_STREAMS < 6);
  const images = await Promise.all([0, 1, 2, 3].map(() => dataUrl()));
  const tune = await s.h.req({
    method: 'POST',
    url: '/tunes',
    payload: { tune: { title: 'slow', name: 'man', branch: 'fast', images } },
  });
  assert.equal(tune.statusCode, 201, tune.body);
  for (let i = 0; i < PENDING; i++) {
    const p = await s.h.req({
      method: 'POST',
      url: `/tunes/${tune.json().id}/prompts`,
      payload: { prompt: { text: `ohwx man number ${i}` } },
    });
    assert.equal(p.statusCode, 201, p.body);
  }
  const { page } = s;
  await page.goto(`${s.base}/`);
  await page.evaluate((key) => sessionStorage.setItem('atelier.apiKey', key), s.h.keyA);
  await page.goto(`${s.base}/ui/gallery`);
  const count = (n: number) =>
    page.waitForFunction((want) => document.querySelectorAll('li.prompt').length === want, n, {
      timeout: 20_000,
    });
  await page.waitForFunction(
    (n) => document.querySelectorAll('li.prompt .badge-queued').length === n,
    GALLERY_PAGE,
  );
  assert.equal(
    await page.locator('li.prompt').first().locator('h2').textContent(),
    `ohwx man number ${PENDING - 1}`,
  );

  // An API call made now must not wait behind the open streams.
  page.on('dialog', (d) => void d.accept());
  await page.locator('li.prompt').first().getByRole('button', { name: 'Delete' }).click();
  await count(GALLERY_PAGE - 1);

  // The rest come with "Show older prompts", oldest last; then there is nothing more to show.
  const older = page.getByRole('button', { name: 'Show older prompts' });
  await older.click();
  await count(PENDING - 1);
  assert.equal(await page.locator('li.prompt').last().locator('h2').textContent(), 'ohwx man number 0');
  assert.equal(await older.isVisible(), false);
  await page.getByRole('link', { name: 'Tunes' }).click();
  await page.locator('li.tune', { hasText: 'slow' }).waitFor({ timeout: 20_000 });
});

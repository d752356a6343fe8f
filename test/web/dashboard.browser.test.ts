// End to end in a real browser: sign in, create a branch=fast tune by dropping and choosing photos, write a
// prompt, watch its images arrive, open the lightbox, reuse and delete; screenshots of each main page go to
// test-artifacts/; labels, keyboard use, contrast and CSP are checked on every page.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Page } from 'playwright-core';
import { createApiKey } from '../../src/domain/keys.ts';
import { revokeApiKey } from '../../src/store/accounts.ts';
import { jpeg } from '../api/helpers.ts';
import {
  ARTIFACTS,
  browserMissing,
  lowContrastText,
  type Stack,
  startStack,
  tabOrder,
  unlabelledControls,
} from './browser.ts';

const skip = browserMissing();
let s: Stack;
let page: Page;

before(async () => {
  if (skip) return;
  s = await startStack({ fastTrainMs: 300 });
  page = s.page;
});
after(async () => {
  await s?.close();
});

const shot = (name: string) =>
  page.screenshot({ path: join(ARTIFACTS, `dashboard-${name}.png`), fullPage: true });
const statusLine = () => page.locator('.status-line');

async function accessibilityBasics(where: string) {
  assert.deepEqual(await unlabelledControls(page), [], `${where}: controls without a label`);
  assert.deepEqual(await lowContrastText(page), [], `${where}: text under WCAG AA contrast`);
}

test('sign in with an API key (kept in sessionStorage only)', { skip: skip ?? false }, async () => {
  await page.goto(`${s.base}/`);
  const key = page.getByLabel('API key');
  await key.waitFor();
  await accessibilityBasics('sign-in');
  await shot('signin');

  await key.fill('sd_not-a-real-key');
  await key.press('Enter');
  await page.getByText('That API key was not accepted.').waitFor();
  assert.equal(await key.getAttribute('aria-invalid'), 'true');

  await key.fill(s.h.keyA);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Tunes', level: 1 }).waitFor();
  const stored = await page.evaluate(() => ({
    session: sessionStorage.getItem('atelier.apiKey'),
    local: localStorage.length,
    cookie: document.cookie,
  }));
  assert.deepEqual(stored, { session: s.h.keyA, local: 0, cookie: '' });
});

test('create a branch=fast tune by dropping photos; client-side checks first', {
  skip: skip ?? false,
}, async () => {
  const photos = await Promise.all(
    [0, 1, 2, 3].map(async (i) => ({
      name: `face-${i}.jpg`,
      mimeType: 'image/jpeg',
      buffer: await jpeg(96, 96, { r: 40 + i * 50, g: 120, b: 200 - i * 40 }),
    })),
  );
  await page.getByLabel('Title').fill('Browser test tune');
  await page.getByLabel('Class name').fill('man');
  await page.getByLabel('Branch').selectOption('fast');
  await page.getByLabel('Token').fill('ohwx');

  // Drag three photos in: one short of the minimum.
  const dataTransfer = await page.evaluateHandle(
    (files) => {
      const dt = new DataTransfer();
      for (const f of files)
        dt.items.add(new File([Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0))], f.name));
      return dt;
    },
    photos.slice(0, 3).map((p) => ({ name: p.name, b64: p.buffer.toString('base64') })),
  );
  await page.locator('.dropzone').dispatchEvent('drop', { dataTransfer });
  await page.getByText('Add at least 4 photos (3 so far).').waitFor();
  const submit = page.getByRole('button', { name: 'Create tune' });
  assert.equal(await submit.isDisabled(), true);

  // A text file named .jpg is caught by sniffing the bytes, and can be removed again.
  const files = page.getByLabel('Training photos');
  await files.setInputFiles({
    name: 'notes.jpg',
    mimeType: 'image/jpeg',
    buffer: Buffer.from('not a photo at all'),
  });
  await page.getByText('notes.jpg is not a JPEG, PNG or WebP image').waitFor();
  await shot('tune-upload');
  await page.getByRole('button', { name: 'Remove notes.jpg' }).click();
  await files.setInputFiles(photos[3]);
  await page.getByText('4 chosen', { exact: false }).waitFor();
  assert.equal(await submit.isDisabled(), false);
  await accessibilityBasics('tunes (form filled)');

  await submit.click();
  const card = page.locator('li.tune', { hasText: 'Browser test tune' });
  await card.waitFor();
  await card.locator('.badge-trained').waitFor({ timeout: 60_000 });
  assert.equal(await card.locator('.thumbs img').count(), 4, 'training photo thumbnails');
  await page.waitForFunction(() =>
    Array.from(document.querySelectorAll<HTMLImageElement>('li.tune .thumbs img')).every(
      (i) => i.naturalWidth > 0,
    ),
  );
  const created = (await s.h.req({ method: 'GET', url: '/tunes' })).json() as {
    title: string;
    branch: string;
  }[];
  assert.equal(created[0].title, 'Browser test tune');
  assert.equal(created[0].branch, 'fast');
  await shot('tunes');
});

test('write a prompt with the schema-driven form; its images appear in the gallery', {
  skip: skip ?? false,
}, async () => {
  await page.getByRole('link', { name: 'New prompt' }).click();
  await page.getByRole('heading', { name: 'New prompt' }).waitFor();
  const tune = ((await s.h.req({ method: 'GET', url: '/tunes' })).json() as { id: number }[])[0];
  await page.getByLabel('Tune', { exact: true }).selectOption(String(tune.id));
  // Every group of the schema is there, each field with its range in the help text.
  for (const group of ['Basics', 'Sampling', 'Post-processing', 'Img2img / ControlNet']) {
    await page.locator('summary', { hasText: group }).waitFor();
  }
  assert.match((await page.locator('[data-field="num_images"] .help').textContent()) ?? '', /1–8/);
  assert.match((await page.locator('[data-field="cfg_scale"] .help').textContent()) ?? '', /0–15/);
  await page.getByLabel('Text (required)').fill('portrait of ohwx man, studio lighting');
  await page.getByLabel('Number of images').fill('2');
  await page.getByLabel('Seed').fill('1234');
  // The scheduler picker is a radio group: reachable and operable from the keyboard.
  await page.locator('[data-field="scheduler"]').getByLabel('Default').focus();
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('ArrowRight');
  assert.equal(await page.locator('[data-field="scheduler"] input:checked').getAttribute('value'), 'euler_a');
  await page.locator('[data-field="style"]').getByText('Cinematic').click();
  await accessibilityBasics('prompt form');
  await shot('prompt');

  // Out-of-range values are stopped by the browser with the schema's bounds.
  await page.getByLabel('CFG scale').fill('15.5');
  assert.equal(
    await page.getByLabel('CFG scale').evaluate((e: HTMLInputElement) => e.checkValidity()),
    false,
  );
  await page.getByLabel('CFG scale').fill('7.5');

  await page.getByRole('button', { name: 'Generate' }).click();
  await page.getByRole('heading', { name: 'Gallery' }).waitFor();
  const card = page.locator('li.prompt.focused');
  await card.waitFor();
  await card.locator('.badge-completed').waitFor({ timeout: 60_000 });
  const thumbs = card.locator('.image-grid img');
  assert.equal(await thumbs.count(), 2);
  assert.equal(
    await card.getByRole('button', { name: 'Cancel' }).isVisible(),
    false,
    'no Cancel once completed',
  );
  assert.equal(await card.locator('progress').isVisible(), false);
  await page.waitForFunction(() =>
    Array.from(document.querySelectorAll<HTMLImageElement>('li.prompt.focused .image-grid img')).every(
      (i) => i.complete && i.naturalWidth > 0,
    ),
  );
  const prompt = (await s.h.req({ method: 'GET', url: '/prompts' })).json()[0];
  assert.equal(prompt.scheduler, 'euler_a');
  assert.equal(prompt.style, 'Cinematic');
  assert.equal(prompt.seed, 1234);
  assert.equal(prompt.cfg_scale, 7.5);
  assert.equal(prompt.num_images, 2);
  await accessibilityBasics('gallery');
  await shot('gallery');
});

test('the lightbox shows the parameters, downloads, steps with arrow keys and closes with Escape', {
  skip: skip ?? false,
}, async () => {
  const first = page.getByRole('button', { name: /Open image 1 of prompt/ });
  await first.click();
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  const params = (await dialog.locator('dl.params').textContent()) ?? '';
  for (const label of ['Seed', 'Scheduler', 'Steps', 'CFG scale']) assert.match(params, new RegExp(label));
  assert.match(params, /1234/);
  assert.match(params, /euler_a/);
  const img = dialog.locator('img.lightbox-image');
  await page.waitForFunction(
    () => (document.querySelector('img.lightbox-image') as HTMLImageElement)?.naturalWidth > 0,
  );
  const firstSrc = await img.getAttribute('src');
  assert.equal(await dialog.getByRole('link', { name: 'Download' }).getAttribute('href'), firstSrc);
  const download = page.waitForEvent('download');
  await dialog.getByRole('link', { name: 'Download' }).click();
  const file = await download;
  assert.match(file.suggestedFilename(), /^atelier-\d+-1\.(jpg|png|webp)$/);
  assert.equal(await file.failure(), null);
  await accessibilityBasics('lightbox');
  await shot('lightbox');

  await page.keyboard.press('ArrowRight');
  assert.notEqual(await img.getAttribute('src'), firstSrc);
  assert.match((await dialog.locator('.lightbox-caption').textContent()) ?? '', /image 2 of 2/);
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'detached' });
  assert.equal(
    await first.evaluate((el) => el === document.activeElement),
    true,
    'focus returns to the thumbnail',
  );
});

test('"reuse these settings" fills the prompt form with that prompt', { skip: skip ?? false }, async () => {
  await page.getByRole('button', { name: /Open image 1 of prompt/ }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Reuse these settings' }).click();
  await page.getByRole('heading', { name: 'New prompt' }).waitFor();
  assert.equal(
    await page.getByLabel('Text (required)').inputValue(),
    'portrait of ohwx man, studio lighting',
  );
  assert.equal(await page.getByLabel('Seed').inputValue(), '1234');
  assert.equal(await page.locator('[data-field="scheduler"] input:checked').getAttribute('value'), 'euler_a');
});

test('img2img: input image plus a painted mask are sent as files', { skip: skip ?? false }, async () => {
  await page.getByLabel('Text (required)').fill('ohwx man in a garden');
  await page.locator('summary', { hasText: 'Img2img / ControlNet' }).click();
  await page.getByLabel('Input image', { exact: true }).setInputFiles({
    name: 'input.jpg',
    mimeType: 'image/jpeg',
    buffer: await jpeg(128, 96),
  });
  const canvas = page.getByLabel('Mask painting area');
  await canvas.scrollIntoViewIfNeeded();
  const box = (await canvas.boundingBox())!;
  await page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.5);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.7, box.y + box.height * 0.5, { steps: 5 });
  await page.mouse.up();
  await shot('mask');

  // Look at the request on its way out (then let it go on to the server unchanged).
  let body: Buffer | null = null;
  await page.route(/\/tunes\/\d+\/prompts$/, async (route) => {
    body = route.request().postDataBuffer();
    await route.continue();
  });
  await page.getByRole('button', { name: 'Generate' }).click();
  await page.getByRole('heading', { name: 'Gallery' }).waitFor();
  await page.unroute(/\/tunes\/\d+\/prompts$/);
  assert.ok(body, 'request body not captured');
  const sent: Buffer = body;
  const text = sent.toString('latin1');
  assert.match(text, /name="prompt\[input_image\]"/);
  const maskAt = text.indexOf('name="prompt[mask_image]"');
  assert.ok(maskAt > 0, 'mask part missing');
  assert.ok(sent.subarray(maskAt).includes(Buffer.from([0x89, 0x50, 0x4e, 0x47])), 'mask is not a PNG');
  await page.getByRole('heading', { name: 'Gallery' }).waitFor();
  await page.locator('li.prompt.focused .badge-completed').waitFor({ timeout: 60_000 });
});

test('per-step progress and queue position from the event stream are shown while a prompt runs', {
  skip: skip ?? false,
}, async () => {
  // The fast mock finishes before a person could see a step, so the start is scripted: the gallery's first read of
  // the new prompt says "queued" and its stream sends two events; the page must show each, then (the stream ending
  // without `done`) settle on the real server's prompt.
  await page.getByRole('link', { name: 'New prompt' }).click();
  await page.getByLabel('Text (required)').fill('ohwx man, progress check');
  let firstRead = true;
  await page.route(/\/prompts\/\d+$/, async (route) => {
    if (route.request().method() !== 'GET' || !firstRead) return route.continue();
    firstRead = false;
    const real = await route.fetch();
    const json = { ...(await real.json()), status: 'queued', images: [], trained_at: null };
    await route.fulfill({ response: real, json });
  });
  await page.route(/\/prompts\/\d+\/events$/, (route) =>
    route.fulfill({
      status: 200,
      headers: { 'content-type': 'text/event-stream' },
      body:
        'event: progress\ndata: {"status":"queued","queue_position":2}\n\n' +
        'event: progress\ndata: {"status":"processing","progress":0.3,"phase":"denoise","step":3,"total":10}\n\n',
    }),
  );
  // Record every text the progress line shows, however briefly.
  await page.evaluate(() => {
    const seen: string[] = [];
    (window as unknown as { progressSeen: string[] }).progressSeen = seen;
    // Setting textContent adds a new Text node each time, so the records keep every value, even those replaced
    // within the same task.
    new MutationObserver((records) => {
      for (const r of records) {
        if (!(r.target instanceof Element) || !r.target.classList.contains('progress-text')) continue;
        for (const n of Array.from(r.addedNodes)) if (n.textContent) seen.push(n.textContent);
      }
    }).observe(document.body, { subtree: true, childList: true });
  });
  await page.getByRole('button', { name: 'Generate' }).click();
  await page.locator('li.prompt.focused .badge-completed').waitFor({ timeout: 60_000 });
  await page.unroute(/\/prompts\/\d+\/events$/);
  await page.unroute(/\/prompts\/\d+$/);
  assert.equal(firstRead, false, 'the gallery did not read the prompt');
  const seen = await page.evaluate(() => (window as unknown as { progressSeen: string[] }).progressSeen);
  assert.ok(seen.includes('Queued (position 2)'), seen.join(' | '));
  assert.ok(seen.includes('Processing · step 3 of 10 · denoise'), seen.join(' | '));
});

test('keyboard: skip link first, then the navigation, each with a visible focus ring', {
  skip: skip ?? false,
}, async () => {
  await page.goto(`${s.base}/ui/tunes`);
  await page.getByRole('heading', { name: 'Tunes', level: 1 }).waitFor();
  const order = await tabOrder(page, 5);
  assert.deepEqual(order.slice(0, 4), ['a:Skip to content', 'a:Tunes', 'a:New prompt', 'a:Gallery']);
  assert.ok(!order.some((o) => o.includes('no focus ring')), order.join(', '));
  await page.keyboard.press('Shift+Tab'); // back on "Gallery"
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Gallery' }).waitFor();
});

test('narrow screens (390 px): no page scrolls sideways', { skip: skip ?? false }, async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  try {
    for (const [link, heading] of [
      ['Tunes', 'Tunes'],
      ['New prompt', 'New prompt'],
      ['Gallery', 'Gallery'],
    ]) {
      await page.getByRole('link', { name: link }).click();
      await page.getByRole('heading', { name: heading, level: 1 }).waitFor();
      await page.locator('main form, main li').first().waitFor();
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `${link}: ${overflow}px wider than the screen`);
      await shot(`narrow-${link.toLowerCase().replace(' ', '-')}`);
    }
  } finally {
    await page.setViewportSize({ width: 1280, height: 900 });
  }
});

test("another account's key sees none of this account's tunes or prompts", {
  skip: skip ?? false,
}, async () => {
  const signInAs = async (key: string) => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API key').fill(key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Tunes', level: 1 }).waitFor();
  };
  await signInAs(s.h.keyB);
  await page.getByText('No tunes yet').waitFor();
  assert.equal(await page.locator('li.tune').count(), 0);
  await page.getByRole('link', { name: 'Gallery' }).click();
  await page.getByText('No prompts yet.').waitFor();
  await signInAs(s.h.keyA);
  assert.equal(await page.locator('li.tune', { hasText: 'Browser test tune' }).count(), 1);
  await page.getByRole('link', { name: 'Gallery' }).click();
  await page.locator('li.prompt').first().waitFor();
});

test('delete a prompt and the tune', { skip: skip ?? false }, async () => {
  page.on('dialog', (d) => void d.accept());
  const cards = page.locator('li.prompt');
  const before = await cards.count();
  await cards.first().getByRole('button', { name: 'Delete' }).click();
  await page.waitForFunction((n) => document.querySelectorAll('li.prompt').length === n - 1, before);
  assert.match((await statusLine().textContent()) ?? '', /Deleted prompt/);

  await page.getByRole('link', { name: 'Tunes' }).click();
  const card = page.locator('li.tune', { hasText: 'Browser test tune' });
  await card.getByRole('button', { name: 'Delete' }).click();
  await card.waitFor({ state: 'detached' });
  const left = (await s.h.req({ method: 'GET', url: '/tunes' })).json() as { title: string }[];
  assert.equal(
    left.some((t) => t.title === 'Browser test tune'),
    false,
  );
});

test('a key revoked while the page is open sends the user back to sign-in', {
  skip: skip ?? false,
}, async () => {
  const extra = await createApiKey(s.h.rt.svc.db, { account: 'alice' });
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('API key').fill(extra.key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Tunes', level: 1 }).waitFor();
  assert.equal(await revokeApiKey(s.h.rt.svc.db, String(extra.row.id)), 1);
  await page.getByRole('link', { name: 'Gallery' }).click();
  await page.getByText('The server no longer accepts this API key: sign in again.').waitFor();
  await page.getByLabel('API key').waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('atelier.apiKey')), null);
});

test('no CSP violations, console errors or page errors along the way', { skip: skip ?? false }, () => {
  assert.deepEqual(s.problems, []);
  // The only failed requests are the ones the page expects: the wrong and the revoked key's 401, and 404s where this server
  // offers no /openapi.json or no tune event stream (the page then uses the built schema, or polls).
  const unexpected = s.failed.filter(
    (f) =>
      !/^401 \/(tunes|prompts)$/.test(f) && !/^404 \/(openapi\.json|openapi|tunes\/\d+\/events)$/.test(f),
  );
  assert.deepEqual(unexpected, []);
});

// Browser-test support: Debian's Chromium driven by playwright-core (never a downloaded browser), a real Atelier
// server on a loopback port with the dashboard registered, and page-side accessibility probes.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { dashboardPlugin } from '../../web/plugin.ts';
import { type Harness, harness } from '../api/helpers.ts';

export const CHROMIUM = process.env.ATELIER_CHROMIUM ?? '/usr/bin/chromium';
export const ARTIFACTS = join(import.meta.dirname, '..', '..', 'test-artifacts');

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--no-first-run',
];

/** Why the browser tests cannot run here, or null when they can. */
export function browserMissing(): string | null {
  return existsSync(CHROMIUM) ? null : `no Chromium at ${CHROMIUM} (apt-get install -y chromium)`;
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

export interface Stack {
  h: Harness;
  base: string;
  context: BrowserContext;
  page: Page;
  /** console errors (CSP violations among them) and page errors seen so far; failed loads are in `failed` */
  problems: string[];
  /** "status path" of every HTTP answer ≥ 400 the page received */
  failed: string[];
  close(): Promise<void>;
}

/** A listening server (real app factory + dashboard plugin) and a fresh Chromium profile. */
export async function startStack(overrides: Parameters<typeof harness>[0] = {}): Promise<Stack> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  // The public base URL is the listening address, so signed image URLs load in the page.
  const h = await harness({ publicBaseUrl: base, ...overrides });
  await h.app.register(dashboardPlugin, { config: h.config });
  await h.app.listen({ host: '127.0.0.1', port });
  const profile = mkdtempSync(join(tmpdir(), 'atelier-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 900 },
    acceptDownloads: true,
  });
  // tsx compiles this test with esbuild's keepNames, which wraps functions handed to page.evaluate in a
  // `__name(...)` helper that exists only in Node; give the page a no-op of it (the app bundle never uses it).
  await context.addInitScript({ content: 'globalThis.__name ??= (f) => f;' });
  const page = context.pages()[0] ?? (await context.newPage());
  const problems: string[] = [];
  const failed: string[] = [];
  page.on('console', (m) => {
    // A failed load is also logged as a console error; those are judged by status in `failed` instead.
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource'))
      problems.push(`console: ${m.text()}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400) failed.push(`${r.status()} ${new URL(r.url()).pathname}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  mkdirSync(ARTIFACTS, { recursive: true });
  return {
    h,
    base,
    context,
    page,
    problems,
    failed,
    async close() {
      await context.close();
      await h.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Form controls that a user can reach but that have no accessible name. */
export function unlabelledControls(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const out: string[] = [];
    for (const el of Array.from(document.querySelectorAll<HTMLElement>('input, select, textarea, button'))) {
      if (el.closest('[hidden]') || (el as HTMLInputElement).type === 'hidden') continue;
      const labels = (el as HTMLInputElement).labels;
      const named =
        (labels && labels.length > 0) ||
        el.getAttribute('aria-label') ||
        el.getAttribute('aria-labelledby') ||
        (el.tagName === 'BUTTON' && el.textContent?.trim());
      if (!named) out.push(el.outerHTML.slice(0, 120));
    }
    return out;
  });
}

/**
 * Text whose contrast with its background is under WCAG 2.x AA (4.5:1, or 3:1 for large text).
 * Ref: https://www.w3.org/TR/WCAG21/#dfn-contrast-ratio and #dfn-relative-luminance.
 */
export function lowContrastText(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const parse = (c: string) => {
      const m = c.match(/rgba?\(([^)]+)\)/);
      if (!m) return null;
      const [r, g, b, a = 1] = m[1]
        .split(/[ ,/]+/)
        .filter(Boolean)
        .map(Number);
      return { r, g, b, a };
    };
    const lum = ({ r, g, b }: { r: number; g: number; b: number }) => {
      const ch = (v: number) => {
        const s = v / 255;
        return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
      };
      return 0.2126 * ch(r) + 0.7152 * ch(g) + 0.0722 * ch(b);
    };
    // The first opaque background up the tree (the page background is opaque).
    const background = (el: Element | null) => {
      for (let e = el; e; e = e.parentElement) {
        const bg = parse(getComputedStyle(e).backgroundColor);
        if (bg && bg.a >= 0.99) return bg;
      }
      return { r: 255, g: 255, b: 255, a: 1 };
    };
    const out: string[] = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const el = n.parentElement;
      if (!el || !n.textContent?.trim()) continue;
      const style = getComputedStyle(el);
      const rect = el.getBoundingClientRect();
      if (style.visibility === 'hidden' || style.display === 'none' || rect.width === 0) continue;
      if (el.closest('button:disabled, [aria-hidden="true"], noscript')) continue; // WCAG exempts inactive controls
      const fg = parse(style.color);
      if (!fg) continue;
      const L1 = lum(fg);
      const L2 = lum(background(el));
      const ratio = (Math.max(L1, L2) + 0.05) / (Math.min(L1, L2) + 0.05);
      const size = Number.parseFloat(style.fontSize);
      const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
      if (ratio < (large ? 3 : 4.5)) out.push(`${ratio.toFixed(2)}:1 "${n.textContent.trim().slice(0, 40)}"`);
    }
    return out;
  });
}

/** Tabs through a freshly loaded page from the top; returns a short description of each focused element, in order. */
export async function tabOrder(page: Page, presses: number): Promise<string[]> {
  const seen: string[] = [];
  for (let i = 0; i < presses; i++) {
    await page.keyboard.press('Tab');
    seen.push(
      await page.evaluate(() => {
        const el = document.activeElement as HTMLElement | null;
        if (!el || el === document.body) return 'body';
        const visible = getComputedStyle(el).outlineStyle !== 'none' || el.matches(':focus-visible');
        const name = el.getAttribute('aria-label') ?? el.textContent?.trim().slice(0, 30) ?? '';
        return `${el.tagName.toLowerCase()}${visible ? '' : '(no focus ring)'}:${name}`;
      }),
    );
  }
  return seen;
}

// Gallery: each prompt with its images in a grid, live per-step progress while it runs, and a lightbox.
import { watch } from '../api/live.ts';
import { describeProgress, progressOf } from '../api/progress.ts';
import { imageUrl, type Prompt, promptState, TERMINAL_PROMPT_STATES } from '../api/types.ts';
import { clear, h } from '../dom.ts';
import type { AppContext } from '../main.ts';
import { stashReuse } from '../session.ts';
import { openLightbox } from './lightbox.ts';
import { errorMessage, pagedList, progressBar, statusBadge } from './widgets.ts';

export async function renderGallery(
  main: HTMLElement,
  ctx: AppContext,
  focusPromptId?: number,
): Promise<void> {
  const list = h('ul', { class: 'prompt-list', 'aria-label': 'Prompts' });
  main.append(h('h1', {}, 'Gallery'), list);
  const shown = new Set<number>();
  const add = (p: Prompt) => {
    if (shown.has(p.id)) return;
    shown.add(p.id);
    const card = promptCard(p, ctx);
    list.append(card);
    if (p.id === focusPromptId) {
      card.classList.add('focused');
      card.scrollIntoView({ block: 'nearest' });
    }
  };
  // The prompt just created (or linked to) comes first even when it is not on the first page.
  if (focusPromptId) add(await ctx.client.getPrompt(focusPromptId));
  await pagedList({
    size: GALLERY_PAGE,
    load: (beforeId) => ctx.client.listPrompts({ limit: GALLERY_PAGE, beforeId }),
    render: (page) => page.forEach(add),
    container: main,
    label: 'Show older prompts',
    onError: (e) => ctx.announce(errorMessage(e), 'error'),
  });
  if (shown.size === 0) list.append(h('li', { class: 'empty' }, 'No prompts yet.'));
}

export const GALLERY_PAGE = 24;

/** The parameters worth reusing: everything the prompt echoes except identity, status and output fields. */
export function reusableParams(p: Prompt): Record<string, unknown> {
  const skip = new Set([
    'id',
    'url',
    'images',
    'status',
    'progress',
    'user_error',
    'created_at',
    'updated_at',
    'trained_at',
    'started_training_at',
    'callback',
    'tunes',
  ]);
  return Object.fromEntries(
    Object.entries(p).filter(([k, v]) => !skip.has(k) && v !== null && v !== undefined),
  );
}

function promptCard(initial: Prompt, ctx: AppContext): HTMLLIElement {
  let prompt = initial;
  const titleId = `prompt-${initial.id}-title`;
  const badgeSlot = h('span', {});
  const progress = progressBar(`Progress of prompt ${initial.id}`);
  const grid = h('ul', { class: 'image-grid', 'aria-label': `Images of prompt ${initial.id}` });
  const errorLine = h('p', { class: 'error-text' });
  const cancelButton = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
  const reuseButton = h('button', { type: 'button', class: 'secondary' }, 'Reuse these settings');
  const deleteButton = h('button', { type: 'button', class: 'danger' }, 'Delete');
  const card = h(
    'li',
    { class: 'card prompt', 'aria-labelledby': titleId, 'data-prompt-id': String(initial.id) },
    h('div', { class: 'prompt-head' }, h('h2', { id: titleId }, initial.text), badgeSlot),
    h(
      'p',
      { class: 'meta' },
      `#${initial.id} · tune ${initial.tune_id} · ${new Date(initial.created_at).toLocaleString()}`,
    ),
    progress.el,
    errorLine,
    grid,
    h('div', { class: 'actions' }, cancelButton, reuseButton, deleteButton),
  );

  const remove = async () => {
    if (!window.confirm(`Delete prompt #${prompt.id} and its images?`)) return false;
    try {
      await ctx.client.deletePrompt(prompt.id);
      card.remove();
      ctx.announce(`Deleted prompt #${prompt.id}.`, 'ok');
      return true;
    } catch (e) {
      ctx.announce(errorMessage(e), 'error');
      return false;
    }
  };
  const reuse = () => {
    stashReuse(reusableParams(prompt));
    ctx.navigate({ name: 'prompt', tuneId: prompt.tune_id });
  };

  const show = (p: Prompt) => {
    prompt = p;
    const state = promptState(p);
    clear(badgeSlot);
    badgeSlot.append(statusBadge(state));
    const running = !TERMINAL_PROMPT_STATES.includes(state);
    progress.el.hidden = !running;
    cancelButton.hidden = !running;
    errorLine.textContent = p.user_error ?? '';
    clear(grid);
    p.images.forEach((img, i) => {
      const open = h(
        'button',
        { type: 'button', class: 'thumb', 'aria-label': `Open image ${i + 1} of prompt ${p.id}` },
        h('img', { src: imageUrl(img), alt: '', loading: 'lazy' }),
      );
      open.addEventListener('click', () =>
        openLightbox({ prompt, index: i, onReuse: reuse, onDelete: remove, returnFocus: open }),
      );
      grid.append(h('li', {}, open));
    });
    if (running) {
      for (let i = 0; i < (p.num_images ?? 1); i++)
        grid.append(h('li', { class: 'pending', 'aria-hidden': 'true' }));
    }
  };
  show(initial);

  if (!TERMINAL_PROMPT_STATES.includes(promptState(initial))) {
    const first = progressOf(initial);
    progress.update(first.progress, describeProgress(first));
    watch({
      client: ctx.client,
      eventsPath: `/prompts/${initial.id}/events`,
      fetchObject: () => ctx.client.getPrompt(initial.id),
      isDone: (p) => TERMINAL_PROMPT_STATES.includes(promptState(p)),
      toUpdate: (p) => progressOf(p),
      onUpdate: (u) => progress.update(u.progress, describeProgress(u)),
      signal: ctx.signal,
    })
      .then((p) => {
        if (!p) return;
        show(p);
        const state = promptState(p);
        ctx.announce(`Prompt #${p.id} ${state}.`, state === 'completed' ? 'ok' : 'error');
      })
      .catch((e: unknown) => ctx.announce(errorMessage(e), 'error'));
  }

  cancelButton.addEventListener('click', async () => {
    try {
      await ctx.client.cancelPrompt(prompt.id);
      ctx.announce(`Cancelling prompt #${prompt.id}…`);
    } catch (e) {
      ctx.announce(errorMessage(e), 'error');
    }
  });
  reuseButton.addEventListener('click', reuse);
  deleteButton.addEventListener('click', () => void remove());
  return card;
}

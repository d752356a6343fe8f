// Tunes: the account's tunes with live training progress and training-photo thumbnails, plus the create form.
import { watch } from '../api/live.ts';
import { describeProgress, progressOf } from '../api/progress.ts';
import { TERMINAL_TUNE_STATES, type Tune, tuneState } from '../api/types.ts';
import { clear, h } from '../dom.ts';
import type { AppContext } from '../main.ts';
import { renderTuneCreate } from './tune-create.ts';
import { errorMessage, pagedList, progressBar, statusBadge } from './widgets.ts';

export async function renderTunes(main: HTMLElement, ctx: AppContext): Promise<void> {
  const list = h('ul', { class: 'tune-list', 'aria-label': 'Your tunes' });
  const listSection = h(
    'section',
    { 'aria-labelledby': 'tunes-title' },
    h('h1', { id: 'tunes-title' }, 'Tunes'),
    list,
  );
  const createSection = h('section', { class: 'card', 'aria-labelledby': 'create-tune-title' });
  main.append(listSection, createSection);

  const addCard = (tune: Tune, first = false) => {
    const card = tuneCard(tune, ctx, () => card.remove());
    list.querySelector('.empty')?.remove();
    if (first) list.prepend(card);
    else list.append(card);
  };
  const [tunes] = await Promise.all([
    pagedList({
      size: TUNES_PAGE,
      load: (beforeId) => ctx.client.listTunes({ limit: TUNES_PAGE, beforeId }),
      render: (page) => {
        for (const t of page) addCard(t);
      },
      container: listSection,
      label: 'Show older tunes',
      onError: (e) => ctx.announce(errorMessage(e), 'error'),
    }),
    renderTuneCreate(createSection, ctx, (tune) => addCard(tune, true)),
  ]);
  if (tunes.length === 0) list.append(h('li', { class: 'empty' }, 'No tunes yet: create one below.'));
}

const TUNES_PAGE = 30;

function tuneCard(initial: Tune, ctx: AppContext, onDeleted: () => void): HTMLLIElement {
  const titleId = `tune-${initial.id}-title`;
  const badgeSlot = h('span', {});
  const progress = progressBar(`Training progress of ${initial.title}`);
  const thumbs = h('ul', { class: 'thumbs', 'aria-label': 'Training photos' });
  const errorLine = h('p', { class: 'error-text' });
  const meta = h('p', { class: 'meta' });
  const promptButton = h(
    'button',
    { type: 'button', onclick: () => ctx.navigate({ name: 'prompt', tuneId: initial.id }) },
    'New prompt',
  );
  const deleteButton = h('button', { type: 'button', class: 'danger' }, 'Delete');
  const card = h(
    'li',
    { class: 'card tune', 'aria-labelledby': titleId, 'data-tune-id': String(initial.id) },
    h('div', { class: 'tune-head' }, h('h2', { id: titleId }, initial.title), badgeSlot),
    meta,
    progress.el,
    errorLine,
    thumbs,
    h('div', { class: 'actions' }, promptButton, deleteButton),
  );

  const show = (t: Tune) => {
    const state = tuneState(t);
    clear(badgeSlot);
    badgeSlot.append(statusBadge(state));
    meta.textContent = [
      `${t.token ?? 'ohwx'} ${t.name}`,
      t.branch ?? 'default branch',
      t.model_type ?? 'checkpoint',
      `#${t.id}`,
    ].join(' · ');
    const fraction = state === 'trained' ? 1 : (t.progress ?? (state === 'queued' ? 0 : undefined));
    progress.update(
      fraction,
      state === 'trained'
        ? 'Ready'
        : describeProgress({
            status: state,
            progress: fraction,
            queuePosition: t.queue_position ?? undefined,
          }),
    );
    progress.el.hidden = state === 'failed';
    errorLine.textContent = t.user_error ?? '';
    clear(thumbs);
    for (const [i, url] of t.orig_images.slice(0, 8).entries()) {
      thumbs.append(
        h(
          'li',
          {},
          h('img', { src: url, alt: `Training photo ${i + 1}`, loading: 'lazy', width: 64, height: 64 }),
        ),
      );
    }
    if (t.orig_images.length > 8) thumbs.append(h('li', { class: 'more' }, `+${t.orig_images.length - 8}`));
  };
  show(initial);

  if (!TERMINAL_TUNE_STATES.includes(tuneState(initial))) {
    watch({
      client: ctx.client,
      eventsPath: `/tunes/${initial.id}/events`,
      fetchObject: () => ctx.client.getTune(initial.id),
      isDone: (t) => TERMINAL_TUNE_STATES.includes(tuneState(t)),
      toUpdate: (t) => progressOf(t as unknown as Record<string, unknown>),
      onUpdate: (u) =>
        progress.update(
          u.status === 'trained' ? 1 : u.progress,
          u.status === 'trained' ? 'Ready' : describeProgress(u),
        ),
      signal: ctx.signal,
    })
      .then((t) => {
        if (t) {
          show(t);
          ctx.announce(`Tune “${t.title}” is ${tuneState(t)}.`, tuneState(t) === 'failed' ? 'error' : 'ok');
        }
      })
      .catch((e: unknown) => ctx.announce(errorMessage(e), 'error'));
  }

  deleteButton.addEventListener('click', async () => {
    if (!window.confirm(`Delete tune “${initial.title}” with its prompts and images?`)) return;
    deleteButton.disabled = true;
    try {
      await ctx.client.deleteTune(initial.id);
      onDeleted();
      ctx.announce(`Deleted tune “${initial.title}”.`, 'ok');
    } catch (e) {
      deleteButton.disabled = false;
      ctx.announce(errorMessage(e), 'error');
    }
  });
  return card;
}

// Small pieces shared by the views: labelled controls, status badges, progress bars.
import { ApiError } from '../api/client.ts';
import { h, uid } from '../dom.ts';

/** A <label> + control + optional help line, wired with for/id and aria-describedby. */
export function labelled(
  label: string,
  control: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement,
  help?: string,
): HTMLElement {
  control.id ||= uid('f');
  const wrap = h('div', { class: 'field' }, h('label', { for: control.id }, label), control);
  if (help) {
    const helpId = uid('help');
    control.setAttribute('aria-describedby', helpId);
    wrap.append(h('p', { class: 'help', id: helpId }, help));
  }
  return wrap;
}

export function select(
  name: string,
  options: [value: string, label: string][],
  value?: string,
): HTMLSelectElement {
  const el = h('select', { name });
  for (const [v, l] of options) el.append(h('option', { value: v, selected: v === value }, l));
  return el;
}

export function statusBadge(status: string): HTMLElement {
  return h('span', { class: `badge badge-${status}` }, status);
}

/** A labelled <progress>; `update` moves it and its text, `undefined` shows an indeterminate bar. */
export function progressBar(label: string): {
  el: HTMLElement;
  update: (fraction: number | undefined, text: string) => void;
} {
  const textId = uid('progress-text');
  const bar = h('progress', { max: '1', 'aria-label': label, 'aria-describedby': textId });
  const text = h('span', { class: 'progress-text', id: textId });
  const el = h('div', { class: 'progress' }, bar, text);
  return {
    el,
    update(fraction, t) {
      if (fraction === undefined) bar.removeAttribute('value');
      else bar.value = Math.max(0, Math.min(1, fraction));
      text.textContent = t;
    },
  };
}

/**
 * Keyset paging for a newest-first list: loads pages of `size` items and, while a page comes back full, offers a
 * "Show older" button that loads the next one after the last id seen.
 */
export async function pagedList<T extends { id: number }>(opts: {
  size: number;
  load: (beforeId: number | undefined) => Promise<T[]>;
  render: (items: T[]) => void;
  container: HTMLElement;
  label: string;
  onError: (e: unknown) => void;
}): Promise<T[]> {
  const more = h('button', { type: 'button', class: 'secondary more-button', hidden: true }, opts.label);
  opts.container.append(more);
  let cursor: number | undefined;
  const next = async () => {
    const items = await opts.load(cursor);
    opts.render(items);
    cursor = items.at(-1)?.id ?? cursor;
    more.hidden = items.length < opts.size;
    return items;
  };
  more.addEventListener('click', async () => {
    more.disabled = true;
    try {
      await next();
    } catch (e) {
      opts.onError(e);
    } finally {
      more.disabled = false;
    }
  });
  return next();
}

export function errorMessage(e: unknown): string {
  if (e instanceof ApiError) {
    const details = Object.entries(e.fieldErrors ?? {}).map(([k, v]) => `${k}: ${v.join(', ')}`);
    if (details.length) return `${e.message} — ${details.join('; ')}`;
  }
  return e instanceof Error ? e.message : String(e);
}

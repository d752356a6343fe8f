// Lightbox: a modal <dialog> (native focus trap, Escape closes) with the image, the parameters that made it,
// and download / reuse / delete. Left and right arrow keys step through the prompt's images.
import { imageUrl, type Prompt } from '../api/types.ts';
import { h } from '../dom.ts';

interface LightboxOptions {
  prompt: Prompt;
  index: number;
  onReuse: () => void;
  /** resolves true when the prompt was deleted */
  onDelete: () => Promise<boolean>;
  returnFocus: HTMLElement;
}

const SHOWN_PARAMS: [key: string, label: string][] = [
  ['seed', 'Seed'],
  ['scheduler', 'Scheduler'],
  ['steps', 'Steps'],
  ['cfg_scale', 'CFG scale'],
  ['w', 'Width'],
  ['h', 'Height'],
  ['style', 'Style'],
  ['negative_prompt', 'Negative prompt'],
  ['denoising_strength', 'Denoising strength'],
  ['controlnet', 'ControlNet'],
];

export function openLightbox(o: LightboxOptions): void {
  const { prompt } = o;
  let index = o.index;
  const img = h('img', { class: 'lightbox-image', alt: '' });
  const caption = h('p', { class: 'lightbox-caption', id: 'lightbox-caption' });
  const params = h('dl', { class: 'params' });
  const download = h('a', { class: 'button', download: '' }, 'Download');
  const prev = h(
    'button',
    { type: 'button', class: 'secondary', 'aria-label': 'Previous image' },
    '‹ Previous',
  );
  const next = h('button', { type: 'button', class: 'secondary', 'aria-label': 'Next image' }, 'Next ›');
  const reuse = h('button', { type: 'button' }, 'Reuse these settings');
  const del = h('button', { type: 'button', class: 'danger' }, 'Delete prompt');
  const close = h('button', { type: 'button', class: 'secondary', 'aria-label': 'Close' }, 'Close');
  const dialog = h(
    'dialog',
    { class: 'lightbox', 'aria-labelledby': 'lightbox-title', 'aria-describedby': 'lightbox-caption' },
    h('div', { class: 'lightbox-top' }, h('h2', { id: 'lightbox-title' }, `Prompt #${prompt.id}`), close),
    h('div', { class: 'lightbox-body' }, h('figure', {}, img, caption), h('div', { class: 'side' }, params)),
    h('div', { class: 'actions' }, prev, next, download, reuse, del),
  );

  for (const [key, label] of SHOWN_PARAMS) {
    const v = prompt[key];
    if (v === null || v === undefined || v === '') continue;
    params.append(h('dt', {}, label), h('dd', {}, String(v)));
  }
  // (ext) what the server could not honour, e.g. the fast mock's "recorded, not applied" parameters
  const notes = Array.isArray(prompt.notes) ? prompt.notes.map(String) : [];
  if (notes.length) params.append(h('dt', {}, 'Notes'), h('dd', {}, notes.join('; ')));

  const show = () => {
    const url = imageUrl(prompt.images[index]);
    img.src = url;
    img.alt = `Image ${index + 1} of ${prompt.images.length}: ${prompt.text}`;
    caption.textContent = `${prompt.text} — image ${index + 1} of ${prompt.images.length}`;
    download.href = url;
    download.setAttribute(
      'download',
      `atelier-${prompt.id}-${index + 1}${url.match(/\.(jpe?g|png|webp)(?=$|\?)/i)?.[0] ?? '.jpg'}`,
    );
    prev.disabled = index === 0;
    next.disabled = index === prompt.images.length - 1;
  };
  const step = (d: number) => {
    const n = index + d;
    if (n < 0 || n >= prompt.images.length) return;
    index = n;
    show();
  };
  const shut = () => dialog.close();

  prev.addEventListener('click', () => step(-1));
  next.addEventListener('click', () => step(1));
  close.addEventListener('click', shut);
  reuse.addEventListener('click', () => {
    shut();
    o.onReuse();
  });
  del.addEventListener('click', async () => {
    if (await o.onDelete()) shut();
  });
  dialog.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowLeft') step(-1);
    else if (e.key === 'ArrowRight') step(1);
  });
  // A click on the backdrop (the dialog element itself, outside its content) closes it.
  dialog.addEventListener('click', (e) => {
    if (e.target === dialog) shut();
  });
  dialog.addEventListener('close', () => {
    dialog.remove();
    if (o.returnFocus.isConnected) o.returnFocus.focus();
  });

  for (const d of Array.from(document.querySelectorAll('dialog.lightbox'))) d.remove();
  document.body.append(dialog);
  show();
  dialog.showModal();
  close.focus();
}

// "New prompt": every parameter of the prompt schema, grouped, with input and mask images for img2img/inpainting.
import { ApiError } from '../api/client.ts';
import { tuneState } from '../api/types.ts';
import { h, uid } from '../dom.ts';
import { serverLimits } from '../limits.ts';
import type { AppContext } from '../main.ts';
import { buildFormModel } from '../schema/form-model.ts';
import { loadSchema } from '../schema/load.ts';
import { takeReuse } from '../session.ts';
import { formatBytes, sniffFile } from '../upload/checks.ts';
import { showConditioning } from './conditioning.ts';
import { createFieldControl, type FieldControl } from './field-control.ts';
import { createMaskPainter } from './mask-painter.ts';
import { errorMessage, labelled } from './widgets.ts';

/** Groups shown expanded; the rest start collapsed to keep the page short. */
const OPEN_GROUPS = new Set(['basics', 'sampling']);

export async function renderPromptForm(main: HTMLElement, ctx: AppContext, tuneId?: number): Promise<void> {
  main.append(h('h1', {}, 'New prompt'));
  const [schema, tunes, conditioning] = await Promise.all([
    loadSchema('prompt'),
    ctx.client.listTunes({ limit: 120 }),
    // A server without the route (older) or failing it: the picker simply shows every type, as the schema does.
    ctx.client.conditioning().catch(() => []),
  ]);
  const reuse = takeReuse();
  const chosenTune = tuneId ?? (typeof reuse?.tune_id === 'number' ? reuse.tune_id : undefined);

  const tunePicker = h('select', { name: 'tune_id', required: true });
  if (tunes.length === 0) tunePicker.append(h('option', { value: '' }, 'No tunes yet'));
  for (const t of tunes) {
    const state = tuneState(t);
    const label = `${t.title} — ${t.token ?? ''} ${t.name} (#${t.id}, ${state})`;
    tunePicker.append(h('option', { value: String(t.id), selected: t.id === chosenTune }, label));
  }
  const tuneHint = h('p', { class: 'help', id: uid('tune-hint') });
  const updateHint = () => {
    const t = tunes.find((x) => String(x.id) === tunePicker.value);
    tuneHint.textContent = t?.token
      ? `Use “${t.token} ${t.name}” in the text (or <lora:${t.id}:1>). Untrained tunes run the prompt when training ends.`
      : '';
  };
  tunePicker.setAttribute('aria-describedby', tuneHint.id);
  tunePicker.addEventListener('change', updateHint);
  updateHint();

  const imageInputs = createImageInputs();
  const controls = new Map<string, FieldControl>();
  const groups = buildFormModel(schema.doc).map((g) => {
    const fields = g.fields.map((f) => {
      const c = createFieldControl(f);
      controls.set(f.name, c);
      return c.el;
    });
    const body = h('div', { class: 'group-body' }, ...fields);
    if (g.id === 'img2img') body.append(imageInputs.el);
    return h(
      'details',
      { class: 'group card', open: OPEN_GROUPS.has(g.id), 'data-group': g.id },
      h('summary', {}, h('h2', {}, g.title)),
      body,
    );
  });
  const controlnet = controls.get('controlnet');
  if (controlnet) showConditioning(controlnet, conditioning);
  if (reuse) for (const [name, value] of Object.entries(reuse)) controls.get(name)?.write(value);

  const submit = h('button', { type: 'submit' }, 'Generate');
  const form = h(
    'form',
    { class: 'prompt-form' },
    h('div', { class: 'card' }, labelled('Tune', tunePicker), tuneHint),
    ...groups,
    h('p', { class: 'help' }, `Form generated from ${schema.source}.`),
    h('div', { class: 'actions' }, submit),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    for (const c of controls.values()) c.showError(null);
    const body = new FormData();
    for (const [name, c] of controls) {
      const v = c.read();
      if (v !== undefined) body.append(`prompt[${name}]`, v);
    }
    const inputImage = imageInputs.inputFile();
    if (inputImage) body.append('prompt[input_image]', inputImage, inputImage.name);
    const mask = await imageInputs.mask();
    if (mask) body.append('prompt[mask_image]', mask, 'mask.png');
    submit.disabled = true;
    ctx.announce('Sending the prompt…');
    try {
      const prompt = await ctx.client.createPrompt(Number(tunePicker.value), body);
      ctx.announce(`Prompt #${prompt.id} queued.`, 'ok');
      ctx.navigate({ name: 'gallery', promptId: prompt.id });
    } catch (err) {
      submit.disabled = false;
      if (err instanceof ApiError) {
        let first: FieldControl | undefined;
        for (const [field, msgs] of Object.entries(err.fieldErrors)) {
          const c = controls.get(field.replace(/^prompt\./, ''));
          c?.showError(msgs.join(' '));
          first ??= c;
        }
        first?.focus();
      }
      ctx.announce(errorMessage(err), 'error');
    }
  });
  main.append(form);
}

/** The input image (file) and its mask (painted or chosen as a file), shown in the img2img group. */
function createImageInputs() {
  const input = h('input', { type: 'file', name: 'input_image', accept: 'image/jpeg,image/png,image/webp' });
  const maskFile = h('input', {
    type: 'file',
    name: 'mask_image',
    accept: 'image/png,image/jpeg,image/webp',
  });
  const problem = h('p', { class: 'field-error', 'aria-live': 'polite', hidden: true });
  const painter = createMaskPainter();
  let inputOk: File | null = null;

  const fail = (msg: string) => {
    problem.hidden = false;
    problem.textContent = msg;
  };
  input.addEventListener('change', async () => {
    problem.hidden = true;
    const file = input.files?.[0] ?? null;
    inputOk = null;
    if (file) {
      const limits = serverLimits();
      if (file.size > limits.maxFileBytes) fail(`${file.name} is over ${formatBytes(limits.maxFileBytes)}`);
      else if (!(await sniffFile(file))) fail(`${file.name} is not a JPEG, PNG or WebP image`);
      else inputOk = file;
    }
    await painter.setImage(inputOk);
  });
  const el = h(
    'div',
    { class: 'image-inputs' },
    labelled('Input image', input, 'For img2img, inpainting and ControlNet.'),
    problem,
    painter.el,
    labelled('Mask image file', maskFile, 'Or paint the mask above: white areas are repainted.'),
  );
  return {
    el,
    inputFile: () => inputOk,
    async mask(): Promise<Blob | null> {
      return maskFile.files?.[0] ?? (await painter.exportMask());
    },
  };
}

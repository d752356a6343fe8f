// "New tune": photos by drag and drop or file picker, checked in the browser exactly as the server will check
// them (count for the model type, format from the bytes, size cap), then sent as one multipart request.
import type { Tune } from '../api/types.ts';
import { clear, h, uid } from '../dom.ts';
import { serverLimits } from '../limits.ts';
import type { AppContext } from '../main.ts';
import { type FieldSpec, fieldsOf } from '../schema/form-model.ts';
import { loadSchema } from '../schema/load.ts';
import {
  checkTrainingImages,
  formatBytes,
  imageCountRange,
  type SniffedFormat,
  sniffFile,
} from '../upload/checks.ts';
import { errorMessage, labelled, select } from './widgets.ts';

interface Chosen {
  file: File;
  format: SniffedFormat | null;
  previewUrl: string;
}

// Suggestions for the class noun (API.md §2); any noun is accepted.
const CLASS_NAMES = ['man', 'woman', 'boy', 'girl', 'baby', 'cat', 'dog', 'couple', 'style'];

/** Options of an enum field of the tune schema, after a blank "server default" choice. */
function schemaChoices(field: FieldSpec | undefined): [string, string][] {
  return [['', 'default'], ...(field?.options ?? []).map((o): [string, string] => [String(o), String(o)])];
}

export async function renderTuneCreate(
  section: HTMLElement,
  ctx: AppContext,
  onCreated: (t: Tune) => void,
): Promise<void> {
  const limits = serverLimits();
  const fields = fieldsOf((await loadSchema('tune')).doc, 'tune');
  const help = (name: string) => fields.get(name)?.help;
  const chosen: Chosen[] = [];

  const title = h('input', { name: 'title', required: true, autocomplete: 'off' });
  const listId = uid('class-names');
  const className = h('input', {
    name: 'name',
    required: true,
    list: listId,
    value: 'man',
    autocomplete: 'off',
  });
  const branch = select('branch', schemaChoices(fields.get('branch')));
  const modelType = select('model_type', schemaChoices(fields.get('model_type')));
  const token = h('input', {
    name: 'token',
    placeholder: 'ohwx',
    autocomplete: 'off',
    pattern: '[A-Za-z0-9_]{1,32}',
  });
  const fileInput = h('input', {
    type: 'file',
    name: 'images',
    multiple: true,
    accept: 'image/jpeg,image/png,image/webp',
  });
  const previews = h('ul', { class: 'previews', 'aria-label': 'Chosen photos' });
  const countLine = h('p', { class: 'help', 'aria-live': 'polite' });
  const problems = h('ul', { class: 'problems', 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit' }, 'Create tune');

  const dropzone = h(
    'div',
    { class: 'dropzone' },
    labelled('Training photos', fileInput),
    h('p', { class: 'help' }, 'Drop photos here or choose files. '),
    countLine,
    previews,
    problems,
  );

  const recheck = () => {
    const result = checkTrainingImages(
      chosen.map((c) => ({ name: c.file.name, size: c.file.size, format: c.format })),
      modelType.value,
      limits,
    );
    const { min, max } = imageCountRange(modelType.value);
    countLine.textContent =
      `${chosen.length} chosen · ${min}–${Math.min(max, limits.maxFiles)} JPEG, PNG or WebP photos, ` +
      `up to ${formatBytes(limits.maxFileBytes)} each`;
    clear(problems);
    // The count is only a problem once the user has started choosing photos (the button stays disabled till then).
    const setErrors = chosen.length > 0 ? result.setErrors : [];
    for (const msg of [...setErrors, ...result.fileErrors.values()]) problems.append(h('li', {}, msg));
    clear(previews);
    chosen.forEach((c, i) => {
      const bad = result.fileErrors.get(i);
      const img = c.format
        ? h('img', { src: c.previewUrl, alt: c.file.name, width: 72, height: 72 })
        : h('span', { class: 'not-image' }, '?');
      const remove = h(
        'button',
        { type: 'button', class: 'icon', 'aria-label': `Remove ${c.file.name}` },
        '×',
      );
      remove.addEventListener('click', () => {
        URL.revokeObjectURL(c.previewUrl);
        chosen.splice(i, 1);
        recheck();
        fileInput.focus();
      });
      previews.append(h('li', { class: bad ? 'invalid' : '' }, img, remove));
    });
    submit.disabled = !result.ok;
    return result.ok;
  };

  const revokeAll = () => {
    for (const c of chosen) URL.revokeObjectURL(c.previewUrl);
  };
  const addFiles = async (files: ArrayLike<File>) => {
    for (const file of Array.from(files)) {
      chosen.push({ file, format: await sniffFile(file), previewUrl: URL.createObjectURL(file) });
    }
    recheck();
  };

  fileInput.addEventListener('change', async () => {
    await addFiles(fileInput.files ?? []);
    fileInput.value = '';
  });
  modelType.addEventListener('change', recheck);
  dropzone.addEventListener('dragover', (e) => {
    e.preventDefault();
    dropzone.classList.add('over');
  });
  dropzone.addEventListener('dragleave', () => dropzone.classList.remove('over'));
  dropzone.addEventListener('drop', (e) => {
    e.preventDefault();
    dropzone.classList.remove('over');
    void addFiles(e.dataTransfer?.files ?? []);
  });
  ctx.signal.addEventListener('abort', () => revokeAll());

  const form = h(
    'form',
    { class: 'tune-create', novalidate: true },
    h(
      'div',
      { class: 'grid' },
      labelled('Title', title, help('title')),
      labelled('Class name', className, help('name')),
      labelled('Branch', branch, help('branch')),
      labelled('Model type', modelType, help('model_type')),
      labelled('Token', token, help('token')),
    ),
    h('datalist', { id: listId }, ...CLASS_NAMES.map((n) => h('option', { value: n }))),
    dropzone,
    submit,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!title.value.trim()) {
      title.setAttribute('aria-invalid', 'true');
      title.focus();
      ctx.announce('Give the tune a title.', 'error');
      return;
    }
    title.removeAttribute('aria-invalid');
    if (!recheck()) return;
    const body = new FormData();
    body.append('tune[title]', title.value.trim());
    body.append('tune[name]', className.value.trim());
    // Blank values are "not given" (API.md §1): the server applies its defaults.
    body.append('tune[branch]', branch.value);
    body.append('tune[model_type]', modelType.value);
    body.append('tune[token]', token.value.trim());
    for (const c of chosen) body.append('tune[images][]', c.file, c.file.name);
    submit.disabled = true;
    ctx.announce(`Uploading ${chosen.length} photos…`);
    try {
      const tune = await ctx.client.createTune(body);
      ctx.announce(`Tune “${tune.title}” created.`, 'ok');
      onCreated(tune);
      form.reset();
      revokeAll();
      chosen.length = 0;
      recheck();
    } catch (err) {
      ctx.announce(errorMessage(err), 'error');
      submit.disabled = false;
    }
  });

  section.append(h('h2', { id: 'create-tune-title' }, 'New tune'), form);
  recheck();
}

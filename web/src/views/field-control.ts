// One form control per schema field (see schema/form-model.ts): its label, range, default and help come from the
// schema; `read()` returns what to send (undefined = leave it to the server's default).
import { h, uid } from '../dom.ts';
import { type FieldSpec, rangeText } from '../schema/form-model.ts';

export interface FieldControl {
  spec: FieldSpec;
  el: HTMLElement;
  read(): string | undefined;
  write(value: unknown): void;
  showError(message: string | null): void;
  focus(): void;
}

/** Enumerations shown as a visible set of choices (a "picker") rather than a drop-down. */
const PICKERS = new Set(['style', 'scheduler']);

export function createFieldControl(spec: FieldSpec): FieldControl {
  const helpId = uid('help');
  const errorId = uid('err');
  // Many descriptions already state their range ("0–15"): say each fact once.
  const extra = rangeText(spec)
    .split(' · ')
    .filter((part) => part && !spec.help.includes(part))
    .join(' · ');
  const helpText = [spec.help, extra].filter(Boolean).join(' — ');
  const help = h('p', { class: 'help', id: helpId }, helpText);
  const error = h('p', { class: 'field-error', id: errorId, hidden: true });
  const describedBy = `${helpId} ${errorId}`;

  if (spec.kind === 'choice' && PICKERS.has(spec.name)) return picker(spec, help, error, describedBy);

  let control: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement;
  const common = { name: spec.name, id: uid(`p-${spec.name}`), 'aria-describedby': describedBy };
  switch (spec.kind) {
    case 'longtext':
      control = h('textarea', { ...common, rows: spec.name === 'text' ? 3 : 2, required: spec.required });
      break;
    case 'boolean':
      control = h('input', { ...common, type: 'checkbox', checked: spec.default === true });
      break;
    case 'integer':
    case 'number':
      control = h('input', {
        ...common,
        type: 'number',
        inputmode: spec.kind === 'integer' ? 'numeric' : 'decimal',
        min: spec.min,
        max: spec.max,
        step: spec.step ?? 'any',
        placeholder: spec.default === undefined || spec.default === null ? 'default' : String(spec.default),
        required: spec.required,
      });
      break;
    case 'choice':
      control = h(
        'select',
        common,
        h(
          'option',
          { value: '' },
          spec.default !== undefined && spec.default !== null ? `default (${spec.default})` : 'default',
        ),
        ...(spec.options ?? []).map((o) => h('option', { value: String(o) }, String(o))),
      );
      break;
    default:
      control = h('input', {
        ...common,
        type: spec.kind === 'url' ? 'url' : 'text',
        required: spec.required,
      });
  }

  const label = h(
    'label',
    { for: control.id },
    spec.label,
    spec.required ? h('span', { class: 'req' }, ' (required)') : null,
  );
  const el =
    spec.kind === 'boolean'
      ? h('div', { class: 'field check', 'data-field': spec.name }, control, label, help, error)
      : h('div', { class: 'field', 'data-field': spec.name }, label, control, help, error);

  return {
    spec,
    el,
    read() {
      if (control instanceof HTMLInputElement && control.type === 'checkbox') {
        // Send a boolean only when it differs from what the server would assume.
        return control.checked === (spec.default === true) ? undefined : String(control.checked);
      }
      const v = control.value.trim();
      return v === '' ? undefined : v;
    },
    write(value) {
      if (control instanceof HTMLInputElement && control.type === 'checkbox')
        control.checked = value === true;
      else control.value = value === null || value === undefined ? '' : String(value);
    },
    showError(message) {
      error.hidden = !message;
      error.textContent = message ?? '';
      if (message) control.setAttribute('aria-invalid', 'true');
      else control.removeAttribute('aria-invalid');
    },
    focus: () => control.focus(),
  };
}

/** A radio group of chips: arrow keys move between choices, as in any native radio group. */
function picker(spec: FieldSpec, help: HTMLElement, error: HTMLElement, describedBy: string): FieldControl {
  const group = uid(`pick-${spec.name}`);
  const choices: [string, string][] = [
    ['', 'Default'],
    ...(spec.options ?? []).map((o): [string, string] => [String(o), String(o)]),
  ];
  const radios = choices.map(([value, label]) => {
    const input = h('input', { type: 'radio', name: group, value, checked: value === '' });
    return { input, el: h('label', { class: 'chip' }, input, h('span', {}, label)) };
  });
  const legendId = uid('legend');
  const el = h(
    'fieldset',
    {
      class: 'field picker',
      'data-field': spec.name,
      'aria-describedby': describedBy,
      'aria-labelledby': legendId,
    },
    h('legend', { id: legendId }, spec.label),
    h('div', { class: 'chips' }, ...radios.map((r) => r.el)),
    help,
    error,
  );
  return {
    spec,
    el,
    read: () => radios.find((r) => r.input.checked)?.input.value || undefined,
    write(value) {
      const v = value === null || value === undefined ? '' : String(value);
      for (const r of radios) r.input.checked = r.input.value === v;
    },
    showError(message) {
      error.hidden = !message;
      error.textContent = message ?? '';
    },
    focus: () => (radios.find((r) => r.input.checked) ?? radios[0]).input.focus(),
  };
}

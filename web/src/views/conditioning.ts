// The prompt form's ControlNet picker with this server's availability (GET /conditioning, ext): types that cannot
// run here are disabled choices, the field's help names the available ones, and a disclosure under the field says
// for each of the others what the operator must install (or why installing cannot help) — the same text the API
// answers in its 422.
import type { ConditioningStatus } from '../api/types.ts';
import { h, uid } from '../dom.ts';
import type { FieldControl } from './field-control.ts';

/**
 * The schema description from /openapi.json already appends the availability as prose ("… Available on this
 * server: …"); the list below says it per type, so the field's help keeps only the field's own description.
 */
const AVAILABILITY_PROSE = '. Available on this server:';

export function showConditioning(control: FieldControl, statuses: ConditioningStatus[]): void {
  const select = control.el.querySelector('select');
  if (!select || statuses.length === 0) return;
  const byType = new Map(statuses.map((s) => [s.type, s]));
  for (const option of Array.from(select.options)) {
    const s = byType.get(option.value);
    if (!s || s.available) continue;
    option.disabled = true;
    option.textContent = `${option.value} (not available)`;
  }

  const help = control.el.querySelector('p.help');
  const cut = help?.textContent?.indexOf(AVAILABILITY_PROSE) ?? -1;
  if (help?.textContent && cut !== -1) help.textContent = help.textContent.slice(0, cut);

  const offered = (s: ConditioningStatus) => select.querySelector(`option[value="${CSS.escape(s.type)}"]`);
  const available = statuses.filter((s) => s.available && offered(s)).map((s) => s.type);
  const missing = statuses.filter((s) => !s.available && offered(s));
  const summary = h(
    'p',
    { class: 'help conditioning-available', id: uid('conditioning') },
    `Available on this server: ${available.length ? available.join(', ') : 'none'}.`,
    missing.length ? ` ${missing.length} more need an install (listed below the field).` : '',
  );
  (help ?? select).after(summary);
  select.setAttribute(
    'aria-describedby',
    `${select.getAttribute('aria-describedby') ?? ''} ${summary.id}`.trim(),
  );
  if (!missing.length) return;
  // The install texts are long (file names, sources, folders): a full-width disclosure under the field.
  const details = h(
    'details',
    { class: 'conditioning' },
    h('summary', {}, `What to install for the other ControlNet types (${missing.length})`),
    h(
      'ul',
      { class: 'help' },
      ...missing.map((s) =>
        h(
          'li',
          { 'data-type': s.type },
          h('strong', {}, s.type),
          s.install ? ` — not installed. Install ${s.install}` : ` — ${s.reason ?? 'not available'}`,
        ),
      ),
    ),
  );
  control.el.after(details);
}

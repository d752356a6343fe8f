// Sign-in: the user pastes an API key; it is checked against the API and kept in sessionStorage only.
import { verifyKey } from '../api/client.ts';
import { h, uid } from '../dom.ts';
import { setKey } from '../session.ts';

export function renderSignIn(
  main: HTMLElement,
  opts: { onSignedIn: () => void; announce: (t: string, k?: 'info' | 'error' | 'ok') => void },
): void {
  const inputId = uid('api-key');
  const helpId = uid('api-key-help');
  const input = h('input', {
    id: inputId,
    name: 'api-key',
    type: 'password',
    autocomplete: 'off',
    spellcheck: 'false',
    required: true,
    'aria-describedby': helpId,
  });
  const submit = h('button', { type: 'submit' }, 'Sign in');
  const form = h(
    'form',
    { class: 'card signin', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title' }, 'Atelier'),
    h('p', { class: 'lead' }, 'Train tunes, write prompts and look at the results.'),
    h('label', { for: inputId }, 'API key'),
    input,
    h(
      'p',
      { id: helpId, class: 'help' },
      'Kept in this browser tab only (session storage) and sent as a Bearer token to this server. ',
      'Create one with ',
      h('code', {}, 'atelier keys create'),
      '.',
    ),
    submit,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const key = input.value.trim();
    if (!key) return;
    submit.disabled = true;
    opts.announce('Checking the key…');
    try {
      if (await verifyKey(key)) {
        setKey(key);
        opts.announce('Signed in.', 'ok');
        opts.onSignedIn();
      } else {
        opts.announce('That API key was not accepted.', 'error');
        input.setAttribute('aria-invalid', 'true');
        input.focus();
      }
    } catch (err) {
      opts.announce(
        `Could not reach the server: ${err instanceof Error ? err.message : String(err)}`,
        'error',
      );
    } finally {
      submit.disabled = false;
    }
  });
  main.append(form);
  input.focus();
}

// Dashboard entry: the app shell (header, navigation, live status line) and the view for the current route.
import { AtelierClient } from './api/client.ts';
import { clear, h, setStatus } from './dom.ts';
import { parseRoute, type Route, routeUrl } from './router.ts';
import { getKey, signOut } from './session.ts';
import { renderGallery } from './views/gallery.ts';
import { renderPromptForm } from './views/prompt-form.ts';
import { renderSignIn } from './views/signin.ts';
import { renderTunes } from './views/tunes.ts';

export interface AppContext {
  client: AtelierClient;
  navigate: (r: Route) => void;
  /** announce a message in the page's live region */
  announce: (text: string, kind?: 'info' | 'error' | 'ok') => void;
  /** aborted when the view is left: stops its streams and timers */
  signal: AbortSignal;
}

const root = document.getElementById('app')!;
// One live region for the whole page, kept across views so a message set just before navigating stays visible.
const status = h('p', { class: 'status-line', role: 'status', 'aria-live': 'polite' });
const announce = (text: string, kind: 'info' | 'error' | 'ok' = 'info') => setStatus(status, text, kind);
let leaveView = new AbortController();

function navigate(r: Route, replace = false): void {
  const url = routeUrl(r);
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  render();
}

function render(): void {
  leaveView.abort();
  leaveView = new AbortController();
  clear(root);
  const key = getKey();
  if (!key) {
    const main = h('main', { id: 'main', class: 'signin-main' });
    root.append(main, status);
    renderSignIn(main, { onSignedIn: () => navigate(parseRoute(location), true), announce });
    return;
  }
  const route = parseRoute(location);
  const link = (r: Route, label: string) =>
    h(
      'a',
      {
        href: routeUrl(r),
        'aria-current': route.name === r.name ? 'page' : null,
        onclick: (e: Event) => {
          const me = e as MouseEvent;
          if (me.ctrlKey || me.metaKey || me.shiftKey || me.button !== 0) return;
          e.preventDefault();
          announce('');
          navigate(r);
        },
      },
      label,
    );
  const header = h(
    'header',
    { class: 'app-header' },
    h('a', { class: 'skip-link', href: '#main' }, 'Skip to content'),
    h('span', { class: 'brand' }, 'Atelier'),
    h(
      'nav',
      { 'aria-label': 'Main' },
      link({ name: 'tunes' }, 'Tunes'),
      link({ name: 'prompt' }, 'New prompt'),
      link({ name: 'gallery' }, 'Gallery'),
    ),
    h(
      'button',
      {
        type: 'button',
        class: 'secondary sign-out',
        onclick: () => {
          signOut();
          announce('Signed out.');
          navigate({ name: 'tunes' }, true);
        },
      },
      'Sign out',
    ),
  );
  const main = h('main', { id: 'main', tabindex: '-1' });
  root.append(header, status, main);
  const onUnauthorized = () => {
    signOut();
    announce('The server no longer accepts this API key: sign in again.', 'error');
    render();
  };
  const signal = leaveView.signal;
  const ctx: AppContext = {
    client: new AtelierClient(key, onUnauthorized),
    navigate,
    // A view that was left (navigation, sign-out) has nothing more to say: late errors of its requests stay quiet.
    announce: (text, kind) => {
      if (!signal.aborted) announce(text, kind);
    },
    signal,
  };
  const done =
    route.name === 'prompt'
      ? renderPromptForm(main, ctx, route.tuneId)
      : route.name === 'gallery'
        ? renderGallery(main, ctx, route.promptId)
        : renderTunes(main, ctx);
  done.catch((e: unknown) => ctx.announce(e instanceof Error ? e.message : String(e), 'error'));
}

window.addEventListener('popstate', render);
render();

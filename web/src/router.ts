// Client-side routes live under /ui/ so they can never shadow an API route; the server answers every /ui/* path
// with the same index page.
export type Route =
  | { name: 'tunes' }
  | { name: 'prompt'; tuneId?: number }
  | { name: 'gallery'; promptId?: number };

export function parseRoute(loc: Location): Route {
  const q = new URLSearchParams(loc.search);
  const id = (k: string) => {
    const v = Number(q.get(k));
    return Number.isInteger(v) && v > 0 ? v : undefined;
  };
  if (loc.pathname.startsWith('/ui/prompt')) return { name: 'prompt', tuneId: id('tune') };
  if (loc.pathname.startsWith('/ui/gallery')) return { name: 'gallery', promptId: id('prompt') };
  return { name: 'tunes' };
}

export function routeUrl(r: Route): string {
  switch (r.name) {
    case 'prompt':
      return r.tuneId ? `/ui/prompt?tune=${r.tuneId}` : '/ui/prompt';
    case 'gallery':
      return r.promptId ? `/ui/gallery?prompt=${r.promptId}` : '/ui/gallery';
    default:
      return '/ui/tunes';
  }
}

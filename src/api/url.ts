// Path normalization applied before routing (CLIENTS.md items 3–5): doubled slashes collapse, a trailing slash is
// dropped, and a `.json` suffix means the same resource. The query string is kept as is.
export function normalizeUrl(url: string): string {
  const q = url.indexOf('?');
  let path = q === -1 ? url : url.slice(0, q);
  const query = q === -1 ? '' : url.slice(q);
  path = path.replace(/\/{2,}/g, '/');
  if (path.length > 1) path = path.replace(/\/+$/, '');
  if (/\.json$/i.test(path)) path = path.slice(0, -5) || '/';
  return path + query;
}

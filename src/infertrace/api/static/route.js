// Hash routes: "#/search?service=api", "#/trace/<id>?span=<id>", ...

/** The hash link for a view and its parameters (empty values dropped unless kept). */
export function hashFor(path, query = {}, keep = []) {
  const params = new URLSearchParams();
  const entries = query instanceof URLSearchParams ? [...query.entries()] : Object.entries(query);
  for (const [key, value] of entries) {
    if (value === undefined || value === null) continue;
    if (value === '' && !keep.includes(key)) continue;
    params.append(key, String(value));
  }
  const text = params.toString();
  return `#/${path}${text ? `?${text}` : ''}`;
}

/** Go to a view; the router renders it (also when only the parameters changed). */
export function go(path, query = {}, keep = []) {
  const target = hashFor(path, query, keep);
  if (window.location.hash === target) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else window.location.hash = target;
}

/** The current route: {name, arg, params} from "#/name/arg?params". */
export function currentRoute() {
  const raw = window.location.hash.replace(/^#\/?/, '');
  const q = raw.indexOf('?');
  const path = q >= 0 ? raw.slice(0, q) : raw;
  const params = new URLSearchParams(q >= 0 ? raw.slice(q + 1) : '');
  const slash = path.indexOf('/');
  const name = slash >= 0 ? path.slice(0, slash) : path;
  let arg = slash >= 0 ? path.slice(slash + 1) : '';
  try {
    arg = decodeURIComponent(arg);
  } catch {
    // keep it as typed
  }
  return {name: name || 'search', arg, params};
}

const lastByView = new Map();

/** Remember the address of a view (the router calls this on every route). */
export function remember(name, hash) {
  lastByView.set(name, hash);
}

/** The last address shown of a view, or its plain link. */
export function lastHash(name) {
  return lastByView.get(name) || `#/${name}`;
}

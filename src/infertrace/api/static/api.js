// The REST API client: paths, bearer token, errors.
//
// Every call names its endpoint by the path template of the OpenAPI document
// ('/api/services/{service}/operations'), so a test can check each one against
// /openapi.json. URLs are resolved against the page, so the UI also works
// behind a reverse proxy that serves it under a path prefix.

const TOKEN_KEY = 'infertrace.apiToken';
let memoryToken = '';

/** An API answer that was not 2xx; message is the server's `detail`. */
export class ApiError extends Error {
  constructor(status, message, path) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.path = path;
  }
}

export function getToken() {
  try {
    return localStorage.getItem(TOKEN_KEY) || '';
  } catch {
    return memoryToken;
  }
}

export function setToken(token) {
  memoryToken = token || '';
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token);
    else localStorage.removeItem(TOKEN_KEY);
  } catch {
    // no storage: memoryToken keeps it for this page
  }
  for (const listener of tokenListeners) listener(Boolean(token));
}

const tokenListeners = new Set();

/** Call fn(hasToken) whenever the token changes. */
export function onTokenChange(fn) {
  tokenListeners.add(fn);
}

// A function returning a promise of a token (or null when the user gives up);
// set by the app to open its sign-in dialog. One prompt is shared by every
// request that got a 401 meanwhile.
let askToken = async () => null;
let pendingAsk = null;

export function setTokenPrompt(fn) {
  askToken = fn;
}

// After the user cancels the prompt, requests of the same page fail with their
// 401 instead of asking again; the router re-arms the prompt on navigation.
let declined = false;

export function rearmTokenPrompt() {
  declined = false;
}

async function promptForToken(rejected) {
  if (declined) return null;
  if (!pendingAsk) {
    pendingAsk = Promise.resolve(askToken(rejected)).then((token) => {
      if (!token) declined = true;
      return token;
    }).finally(() => {
      pendingAsk = null;
    });
  }
  return pendingAsk;
}

/** The URL of a path template with its {params} filled in and a query string. */
export function apiUrl(template, params = {}, query = undefined) {
  const path = template.replace(/\{(\w+)\}/g, (_, name) => {
    if (params[name] === undefined || params[name] === null) throw new Error(`missing path parameter ${name}`);
    return encodeURIComponent(String(params[name]));
  });
  const url = new URL(`.${path}`, document.baseURI);
  if (query) {
    const entries = query instanceof URLSearchParams ? [...query.entries()] : Object.entries(query);
    for (const [key, value] of entries) {
      if (value === undefined || value === null || value === '') continue;
      url.searchParams.append(key, String(value));
    }
  }
  return url;
}

/** The API's error detail as one readable line (FastAPI's 422 list included). */
export function describeDetail(detail) {
  if (typeof detail === 'string') return detail;
  if (Array.isArray(detail)) {
    return detail.map((d) => {
      if (d && typeof d === 'object' && 'msg' in d) {
        const loc = Array.isArray(d.loc) ? d.loc.filter((x) => x !== 'query' && x !== 'path').join('.') : '';
        return loc ? `${loc}: ${d.msg}` : String(d.msg);
      }
      return JSON.stringify(d);
    }).join('; ');
  }
  return JSON.stringify(detail);
}

async function errorOf(response, template) {
  let message = `${response.status} ${response.statusText}`.trim();
  try {
    const body = await response.json();
    if (body && body.detail !== undefined) message = describeDetail(body.detail);
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(response.status, message, template);
}

/**
 * GET a JSON endpoint. `template` is an OpenAPI path such as '/api/traces/{trace_id}'.
 * On 401 the user is asked for a token (once for all waiting requests) and the
 * request is retried with it.
 */
export async function getJSON(template, {params = {}, query, signal} = {}) {
  const url = apiUrl(template, params, query);
  for (let attempt = 0; ; attempt += 1) {
    const headers = {Accept: 'application/json'};
    const token = getToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    let response;
    try {
      response = await fetch(url, {headers, signal, cache: 'no-store'});
    } catch (err) {
      if (err && err.name === 'AbortError') throw err;
      throw new ApiError(0, `cannot reach the server (${err && err.message ? err.message : err})`, template);
    }
    if (response.status === 401 && attempt < 3) {
      if (getToken() !== token) continue; // signed in meanwhile: retry with the new token
      const given = await promptForToken(Boolean(token));
      if (given) continue;
    }
    if (!response.ok) throw await errorOf(response, template);
    return response.json();
  }
}

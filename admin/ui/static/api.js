// The REST API client. The session lives in an HttpOnly cookie the browser
// sends by itself; every request that changes something carries the CSRF
// token, which is kept in memory only (after a reload it comes back from
// GET /api/v1/me).

let csrfToken = '';
let onUnauthorized = () => {};

export function setCSRF(token) {
  csrfToken = token || '';
}

// csrf is the token, for requests made without api() (uploads, which show
// their progress).
export const csrf = () => csrfToken;

// whenUnauthorized registers what to do when the session has ended (show the
// sign-in page).
export function whenUnauthorized(fn) {
  onUnauthorized = fn;
}

// APIError is an error answer: {"error": {"code", "message", "field",
// "fields", "problems"}}.
export class APIError extends Error {
  constructor(status, body, retryAfter) {
    const e = (body && body.error) || {};
    super(e.message || `The server answered ${status}.`);
    this.status = status;
    this.code = e.code || 'error';
    this.field = e.field || '';
    this.fields = e.fields || (e.field ? { [e.field]: e.message } : {});
    this.problems = Array.isArray(e.problems) ? e.problems : [];
    this.retryAfter = retryAfter;
  }
}

export async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD') headers['X-CSRF-Token'] = csrfToken;
  let resp;
  try {
    resp = await fetch('/api/v1' + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
    });
  } catch {
    throw new APIError(0, { error: { code: 'network', message: 'Cannot reach the server. Check your connection and try again.' } });
  }
  if (resp.status === 204) return null;
  let data = null;
  const text = await resp.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!resp.ok) {
    const err = new APIError(resp.status, data, Number(resp.headers.get('Retry-After')) || 0);
    if (resp.status === 401 && path !== '/login') onUnauthorized(err);
    throw err;
  }
  return data;
}

export const get = (path) => api('GET', path);
export const post = (path, body) => api('POST', path, body === undefined ? {} : body);
export const put = (path, body) => api('PUT', path, body);
export const del = (path) => api('DELETE', path);

// query builds "?a=1&b=2" from the non-empty values of an object.
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? '?' + s : '';
}

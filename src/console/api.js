// The REST client: same-origin fetch with the session cookie, the error
// envelope turned into ApiError, and one refresh-and-retry on an expired
// access token. While an admin views the console as a user, every call
// carries that impersonation token instead (it is never refreshed).

export const BASE = '/api/v1';

export class ApiError extends Error {
  constructor(status, code, message, details, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
    this.retryAfter = retryAfter;
  }
}

const READABLE = {
  CONVERSATION_BUSY: 'This conversation is still answering. Wait for it to finish, or press Stop.',
  QUOTA_EXCEEDED: "You have used this month's token allowance. Ask an admin to raise it.",
  RATE_LIMIT_EXCEEDED: 'Too many requests. Try again in a few seconds.',
  EXTERNAL_SERVICE_ERROR: 'The model provider failed to answer. Try again.',
  GATEWAY_TIMEOUT: 'The model provider stopped answering. Try again.',
  SERVICE_UNAVAILABLE: 'The server is not available right now.',
};

// A sentence a person can act on, for an error code.
export function readable(code, message) {
  return READABLE[code] || message || 'Something went wrong.';
}

let refreshing = null;
let onSignedOut = () => {};
let onTokens = () => {};
let onBearerRefused = () => {};
let bearer = null;

export function hooks(signedOut, tokens) {
  onSignedOut = signedOut;
  onTokens = tokens;
}

// Sends `token` as the bearer on every call (null: back to the cookie);
// `refused` runs when the server answers 401 to it.
export function useBearer(token, refused = () => {}) {
  bearer = token;
  onBearerRefused = refused;
}

export const bearerToken = () => bearer;

// Trades the refresh cookie for new tokens; one call at a time.
export function refresh() {
  refreshing ||= fetch(`${BASE}/auth/refresh`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}',
  }).then(async (r) => {
    if (!r.ok) throw await toError(r);
    const tokens = await r.json();
    onTokens(tokens);
    return tokens;
  }).finally(() => { refreshing = null; });
  return refreshing;
}

export async function toError(r) {
  let body = {};
  try { body = await r.json(); } catch { /* not JSON */ }
  const e = body.error || {};
  return new ApiError(r.status, e.code || 'HTTP_' + r.status, readable(e.code, e.message),
    e.details, r.headers.get('retry-after'));
}

// fetch `path` under the API; answers the raw Response (for streams) when
// `raw`, else the parsed JSON (null for 204).
export async function call(method, path, body, { raw = false, headers = {}, retry = true, signal } = {}) {
  const init = { method, headers: { ...headers }, signal, credentials: 'same-origin' };
  const sentBearer = bearer;
  if (sentBearer) init.headers.authorization = `Bearer ${sentBearer}`;
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const r = await fetch(BASE + path, init);
  if (r.status === 401 && sentBearer) {
    if (bearer === sentBearer) onBearerRefused();
    throw await toError(r);
  }
  if (r.status === 401 && retry && !path.startsWith('/auth/')) {
    try { await refresh(); } catch { onSignedOut(); throw await toError(r); }
    return call(method, path, body, { raw, headers, retry: false, signal });
  }
  if (!r.ok) throw await toError(r);
  if (raw) return r;
  return r.status === 204 ? null : r.json();
}

export const get = (path, opts) => call('GET', path, undefined, opts);
export const post = (path, body, opts) => call('POST', path, body ?? {}, opts);
export const patch = (path, body) => call('PATCH', path, body);
export const del = (path) => call('DELETE', path);

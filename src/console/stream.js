// Live events: one WebSocket per page (cookie auth) with reconnect, and an
// SSE reader over fetch for chat streams when the socket cannot be used
// (`?transport=sse` forces it) and to resume a running answer.

import { BASE, bearerToken, call } from './api.js';

const forced = new URLSearchParams(location.search).get('transport');
const listeners = new Set();
let socket = null;
let open = false;
let failedToOpen = false;
let wanted = false;
let backoff = 500;
let token = null;

// `fn(message)` for every message the socket receives; `{type:'socket.closed'}` too.
export function listen(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function emit(msg) {
  for (const fn of [...listeners]) fn(msg);
}

// Whether chats go over the socket now.
export function socketReady() {
  return forced !== 'sse' && open;
}

export function transportName() {
  return socketReady() ? 'websocket' : 'sse';
}

export function connect() {
  wanted = true;
  if (forced === 'sse' || socket) return;
  // A browser cannot set headers on a socket: an impersonation token goes in the query.
  const as = bearerToken();
  const query = as ? `?token=${encodeURIComponent(as)}` : '';
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${BASE}/ws${query}`;
  const ws = new WebSocket(url);
  socket = ws;
  ws.onopen = () => { open = true; backoff = 500; if (token && !as) send({ type: 'auth', token }); };
  ws.onmessage = (e) => {
    let msg;
    try { msg = JSON.parse(e.data); } catch { return; }
    emit(msg);
  };
  ws.onclose = () => {
    const was = open;
    open = false;
    socket = null;
    if (!was) failedToOpen = true;
    emit({ type: 'socket.closed' });
    if (wanted) setTimeout(connect, backoff);
    backoff = Math.min(backoff * 2, 15000);
  };
}

export function disconnect() {
  wanted = false;
  if (socket) socket.close(1000);
}

// Closes the socket and opens a new one at once, as whoever the API
// client now speaks for.
export function reconnect() {
  if (socket) {
    socket.onclose = null;
    socket.close(1000);
  }
  socket = null;
  open = false;
  backoff = 500;
  connect();
}

// A fresh access token for the open socket (after a refresh). A socket
// opened with an impersonation token keeps it.
export function reauth(access) {
  token = access;
  if (open && !bearerToken()) send({ type: 'auth', token });
}

export function send(msg) {
  if (!socket || !open) return false;
  socket.send(JSON.stringify(msg));
  return true;
}

export function socketFailed() {
  return failedToOpen;
}

// Reads an SSE response body, calling `onEvent(name, data, id)` per event.
export async function readSse(response, onEvent) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let cut;
    while ((cut = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      let name = 'message'; let data = ''; let id = null;
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) name = line.slice(6).trim();
        else if (line.startsWith('data:')) data += line.slice(5).trim();
        else if (line.startsWith('id:')) id = line.slice(3).trim();
      }
      if (!data) continue;
      let parsed;
      try { parsed = JSON.parse(data); } catch { continue; }
      onEvent(name, parsed, id);
    }
  }
}

// POSTs a chat with `stream: true` and reads its events.
export async function chatSse(convId, body, onEvent, signal) {
  const r = await call('POST', `/conversations/${convId}/chat`, { ...body, stream: true }, { raw: true, signal });
  await readSse(r, onEvent);
}

// Attaches to the generation running in `convId`, replaying after
// `lastId` (or from the start). Answers false when none is running.
export async function attach(convId, onEvent, lastId, signal) {
  const headers = lastId != null ? { 'last-event-id': String(lastId) } : {};
  const r = await call('GET', `/conversations/${convId}/stream`, undefined, { raw: true, headers, signal });
  if (r.status === 204) return false;
  await readSse(r, onEvent);
  return true;
}

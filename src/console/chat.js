// One conversation's messages and its live answer: send over the socket
// or SSE, Stop, resume a running answer after a reload or a dropped socket.

import { get, post, readable } from './api.js';
import { $, h, richText, say } from './dom.js';
import * as stream from './stream.js';
import { choice, bump } from './conversations.js';

let conv = null;
// The answer streaming now: {convId, messageId, text, bubble, lastId, viaSocket, ended, abort}.
let live = null;
let ref = 0;

export function init() {
  $('#composer').addEventListener('submit', (e) => { e.preventDefault(); send(); });
  $('#input').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); }
  });
  document.addEventListener('keydown', (e) => { if (e.key === 'Escape' && live) stop(); });
  $('#stop').addEventListener('click', stop);
  stream.listen(onSocket);
}

function bubble(role, text, status) {
  const li = h('li.message', { dataset: { role, status: status || 'complete' } },
    h('span.who', {}, role === 'user' ? 'You' : role === 'assistant' ? 'Assistant' : role),
    h('div.body'));
  paint(li, text, status);
  return li;
}

function paint(li, text, status) {
  li.dataset.status = status || 'complete';
  li.querySelector('.body').replaceChildren(richText(text));
  li.querySelector('.badge')?.remove();
  if (status === 'cancelled' || status === 'failed') li.append(h('span.badge', {}, status));
}

function scroll() {
  const list = $('#messages');
  list.scrollTop = list.scrollHeight;
}

function busy(on) {
  $('#send').disabled = on;
  $('#stop').hidden = !on;
  $('#composer').setAttribute('aria-busy', on ? 'true' : 'false');
}

// Shows conversation `c`: its stored messages, then the answer running there.
export async function show(c) {
  if (live && live.convId !== c.id) detach();
  if (attaching) attaching.abort();
  conv = c;
  $('#messages').replaceChildren();
  say('');
  let page = await get(`/conversations/${c.id}/messages?limit=100`);
  if (page.total > page.items.length) {
    page = await get(`/conversations/${c.id}/messages?limit=100&skip=${page.total - 100}`);
  }
  if (conv !== c) return;
  const known = new Set(page.items.map((m) => m.id));
  $('#messages').append(...page.items.map((m) => bubble(m.role, m.content, m.status)));
  scroll();
  if (live) { if (live.bubble) $('#messages').append(live.bubble); return; }
  resume({ convId: c.id, text: '', bubble: null, ended: false, known });
}

let attaching = null;

function detach() {
  if (live && live.abort) live.abort.abort();
  live = null;
  busy(false);
}

// Attaches `g` to the generation running in its conversation (a reload
// mid-answer, a dropped socket or stream), after event `lastId` if given.
// It becomes the live answer only when its `start` arrives.
async function resume(g, lastId) {
  const abort = new AbortController();
  g.abort = abort;
  attaching = abort;
  try {
    await stream.attach(g.convId, (n, d, id) => onEvent(g, n, d, id), lastId, abort.signal);
  } catch (e) {
    if (e.name !== 'AbortError' && live === g && !g.ended) setTimeout(() => resume(g, g.lastId), 500);
    return;
  } finally {
    if (attaching === abort) attaching = null;
  }
  // The stream ended without `done` (a proxy cut it): pick up after the last event.
  if (live === g && !g.ended) resume(g, g.lastId);
}

function onEvent(g, name, data, id) {
  if (name === 'start' && !live && !g.ended && conv && conv.id === g.convId) {
    if (g.known && g.known.has(data.message_id)) { g.ended = true; g.abort?.abort(); return; }
    live = g;
  }
  if (live !== g) return;
  if (id != null) g.lastId = id;
  if (name === 'start') {
    g.messageId = data.message_id;
    g.text = '';
    if (!g.bubble) { g.bubble = bubble('assistant', '', 'streaming'); $('#messages').append(g.bubble); }
    busy(true);
  } else if (name === 'token') {
    if (!g.bubble) return;
    g.text += data.token;
    paint(g.bubble, g.text, 'streaming');
  } else if (name === 'done') {
    if (g.bubble) paint(g.bubble, data.full_response ?? g.text, data.cancelled ? 'cancelled' : 'complete');
    finish(g);
  } else if (name === 'error') {
    if (g.bubble) paint(g.bubble, g.text, 'failed');
    say(readable(data.code, data.message), 'error');
    finish(g);
  }
  scroll();
}

function finish(g) {
  g.ended = true;
  if (g.abort) g.abort.abort();
  if (live === g) { live = null; busy(false); }
  bump();
  $('#input').focus();
}

function onSocket(msg) {
  if (msg.type === 'socket.closed') {
    // The socket dropped mid-answer: the replay log has every event.
    if (live && live.viaSocket && !live.ended) { live.viaSocket = false; resume(live); }
    return;
  }
  if (msg.type === 'error' && live && live.ref && msg.ref === live.ref) {
    failed(live, msg.code, msg.message);
    return;
  }
  if (!msg.type.startsWith('chat.') || !live || !live.viaSocket || msg.conversation_id !== live.convId) return;
  onEvent(live, msg.type.slice(5), msg, null);
}

function failed(g, code, message) {
  g.bubble?.remove();
  if (g.content && !$('#input').value) $('#input').value = g.content;
  g.ended = true;
  if (live === g) { live = null; busy(false); }
  say(readable(code, message), 'error');
}

async function send() {
  const content = $('#input').value;
  if (!conv || !content.trim() || live) return;
  if (attaching) attaching.abort();
  say('');
  $('#input').value = '';
  $('#messages').append(bubble('user', content));
  const g = { convId: conv.id, content, text: '', bubble: null, ended: false, known: new Set() };
  g.bubble = bubble('assistant', '', 'streaming');
  $('#messages').append(g.bubble);
  live = g;
  busy(true);
  scroll();
  const body = { content, ...choice() };
  if (stream.socketReady()) {
    g.viaSocket = true;
    g.ref = `chat-${++ref}`;
    stream.send({ type: 'chat', conversation_id: conv.id, ref: g.ref, ...body });
    return;
  }
  g.abort = new AbortController();
  try {
    await stream.chatSse(conv.id, body, (n, d, id) => onEvent(g, n, d, id), g.abort.signal);
  } catch (e) {
    if (e.name === 'AbortError') return;
    if (e.code) { failed(g, e.code, e.message); return; }
  }
  if (live === g && !g.ended) resume(g, g.lastId);
}

async function stop() {
  if (!live) return;
  try {
    await post(`/conversations/${live.convId}/cancel`);
  } catch (e) { say(e.message, 'error'); }
}

export const transport = () => stream.transportName();

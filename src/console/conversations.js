// The conversation list (newest first, paged by scroll, searched by title),
// create, rename, delete, and the persona and model pickers.

import { get, post, patch, del } from './api.js';
import { $, h, say } from './dom.js';

const PAGE = 20;
let items = [];
let total = 0;
let search = '';
let loading = null;
let current = null;
let providers = { providers: {}, default_provider: null };
let onOpen = () => {};

export const currentConversation = () => current;

export function init(open) {
  onOpen = open;
  $('#new-conversation').addEventListener('click', create);
  let t = null;
  $('#conversation-search').addEventListener('input', (e) => {
    clearTimeout(t);
    t = setTimeout(() => { search = e.target.value.trim(); reload(); }, 250);
  });
  const list = $('#conversation-list');
  list.addEventListener('scroll', () => {
    if (list.scrollTop + list.clientHeight >= list.scrollHeight - 40) more();
  });
  $('#conversation-title').addEventListener('change', rename);
  $('#delete-conversation').addEventListener('click', remove);
  $('#persona').addEventListener('change', () => save({ persona_id: $('#persona').value || null }));
  $('#provider').addEventListener('change', () => { fillModels(); pickModel(); });
  $('#model').addEventListener('change', pickModel);
}

// The provider and model a chat should use now.
export function choice() {
  return { provider: $('#provider').value || undefined, model: $('#model').value || undefined };
}

export async function loadPickers() {
  try {
    providers = await get('/ai/providers');
  } catch { providers = { providers: {}, default_provider: null }; }
  const sel = $('#provider');
  sel.replaceChildren(...Object.entries(providers.providers).map(([name, p]) =>
    h('option', { value: name }, p.kind === 'echo' ? `${name} (test model)` : name)));
  sel.value = providers.default_provider || sel.value;
  fillModels();
  try {
    const page = await get('/personas?limit=100');
    $('#persona').replaceChildren(h('option', { value: '' }, 'No persona'),
      ...page.items.map((p) => h('option', { value: p.id }, p.name)));
  } catch { /* personas are optional */ }
}

function fillModels(selected) {
  const p = providers.providers[$('#provider').value];
  const models = p ? p.models : [];
  $('#model').replaceChildren(...models.map((m) => h('option', { value: m }, m)));
  $('#model').value = selected || (p && p.default_model) || models[0] || '';
}

function pickModel() {
  save({ provider: $('#provider').value, model: $('#model').value });
}

export async function reload() {
  items = [];
  total = 0;
  $('#conversation-list').replaceChildren();
  await more();
}

async function more() {
  if (loading || (items.length && items.length >= total)) return loading;
  loading = (async () => {
    const q = new URLSearchParams({ skip: items.length, limit: PAGE });
    if (search) q.set('search', search);
    const page = await get(`/conversations?${q}`);
    total = page.total;
    items.push(...page.items);
    $('#conversation-list').append(...page.items.map(row));
    mark();
  })().catch((e) => say(e.message, 'error')).finally(() => { loading = null; });
  return loading;
}

function row(c) {
  return h('li', { dataset: { id: c.id } },
    h('button', { type: 'button', class: 'conv', onclick: () => open(c.id) }, c.title || 'Untitled'));
}

function mark() {
  for (const li of $('#conversation-list').children) {
    const on = current && li.dataset.id === current.id;
    li.firstChild.setAttribute('aria-current', on ? 'true' : 'false');
  }
}

export async function open(id) {
  try {
    current = await get(`/conversations/${id}`);
  } catch (e) {
    say(e.message, 'error');
    current = null;
    return;
  }
  history.replaceState(null, '', `${location.search}#c=${id}`);
  $('#conversation-title').value = current.title || '';
  $('#persona').value = current.persona_id || '';
  if (current.provider && providers.providers[current.provider]) {
    $('#provider').value = current.provider;
    fillModels(current.model);
  }
  $('#chat-pane').hidden = false;
  mark();
  onOpen(current);
}

async function create() {
  try {
    const c = await post('/conversations', { title: 'New conversation', ...choice() });
    items.unshift(c);
    total += 1;
    $('#conversation-list').prepend(row(c));
    await open(c.id);
    $('#input').focus();
  } catch (e) { say(e.message, 'error'); }
}

async function save(fields) {
  if (!current) return;
  try {
    current = await patch(`/conversations/${current.id}`, fields);
    return current;
  } catch (e) { say(e.message, 'error'); }
}

async function rename() {
  const title = $('#conversation-title').value.trim();
  if (!title || !(await save({ title }))) return;
  const btn = $(`#conversation-list li[data-id="${current.id}"] button`);
  if (btn) btn.textContent = title;
}

async function remove() {
  if (!current) return;
  try {
    await del(`/conversations/${current.id}`);
    $(`#conversation-list li[data-id="${current.id}"]`)?.remove();
    close();
  } catch (e) { say(e.message, 'error'); }
}

// Closes the open conversation (another account's view begins).
export function close() {
  current = null;
  $('#chat-pane').hidden = true;
  history.replaceState(null, '', location.search || location.pathname);
}

// Attaches `ids` to the open conversation for retrieval.
export async function attachDocuments(ids) {
  if (!current) return null;
  const metadata = { ...(current.metadata || {}), document_ids: ids };
  return save({ metadata });
}

// Moves the open conversation to the top (it was just updated).
export function bump() {
  const li = current && $(`#conversation-list li[data-id="${current.id}"]`);
  if (li) $('#conversation-list').prepend(li);
}

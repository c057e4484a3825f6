// Documents: upload a .txt or .md file and watch its ingestion job's
// progress (job events over the socket, polling when there is none),
// search, and attach documents to the open conversation.

import { get, post, del } from './api.js';
import { $, h, say } from './dom.js';
import * as stream from './stream.js';
import { currentConversation, attachDocuments } from './conversations.js';

// Last `job.update` seen per job id (it may come before the upload answers).
const jobs = new Map();
const watchers = new Map();

export function init() {
  $('#upload-form').addEventListener('submit', (e) => { e.preventDefault(); upload(); });
  $('#doc-search-form').addEventListener('submit', (e) => { e.preventDefault(); search(); });
  stream.listen((msg) => {
    if (msg.type !== 'job.update' || !msg.job) return;
    jobs.set(msg.job.id, msg.job);
    watchers.get(msg.job.id)?.(msg.job);
  });
}

async function upload() {
  const file = $('#upload-file').files[0];
  if (!file) { say('Choose a .txt or .md file first.', 'error'); return; }
  const form = new FormData();
  form.append('file', file);
  const bar = h('progress', { max: 100, value: 0, 'aria-label': `Ingesting ${file.name}` });
  const label = h('span.job-status', {}, 'uploading');
  const row = h('li.upload', {}, h('span', {}, file.name), bar, label);
  $('#uploads').prepend(row);
  try {
    const made = await post('/documents', form);
    row.dataset.jobId = made.job_id;
    row.dataset.documentId = made.document_id;
    await watch(made.job_id, (job) => {
      bar.value = job.progress_percent ?? bar.value;
      label.textContent = job.status;
      row.dataset.status = job.status;
    });
    list();
  } catch (e) {
    label.textContent = 'failed';
    row.dataset.status = 'failed';
    say(e.message, 'error');
  }
}

const TERMINAL = new Set(['completed', 'failed', 'cancelled']);

// Calls `update(job)` until the job ends; resolves with the last state.
function watch(id, update) {
  return new Promise((resolve) => {
    let poll = null;
    const seen = (job) => {
      update(job);
      if (TERMINAL.has(job.status)) {
        watchers.delete(id);
        clearTimeout(poll);
        resolve(job);
      }
    };
    watchers.set(id, seen);
    const check = async () => {
      try { seen(await get(`/jobs/${id}`)); } catch { /* try again */ }
      if (watchers.has(id)) poll = setTimeout(check, stream.socketReady() ? 3000 : 700);
    };
    if (jobs.has(id)) seen(jobs.get(id));
    check();
  });
}

async function search() {
  const q = $('#doc-search').value.trim();
  if (!q) return;
  try {
    const hits = await get(`/documents/search?${new URLSearchParams({ q, limit: 10 })}`);
    $('#doc-results').replaceChildren(...(hits.length ? hits.map((hit) =>
      h('li', { dataset: { documentId: hit.document_id } }, h('p', {}, hit.text))) : [h('li', {}, 'No match.')]));
  } catch (e) { say(e.message, 'error'); }
}

export async function list() {
  try {
    const page = await get('/documents?limit=100');
    const attached = new Set(currentConversation()?.metadata?.document_ids || []);
    $('#doc-list').replaceChildren(...page.items.map((d) => {
      const box = h('input', { type: 'checkbox', checked: attached.has(d.id), disabled: !currentConversation(),
        'aria-label': `Use ${d.title} in the open conversation`, onchange: attach });
      box.value = d.id;
      return h('li', { dataset: { id: d.id, status: d.status } },
        h('label', {}, box, ` ${d.title} `), h('span.doc-status', {}, `${d.status}, ${d.chunk_count} chunks`),
        h('button', { type: 'button', class: 'link', onclick: () => remove(d.id) }, 'Delete'));
    }));
  } catch (e) { say(e.message, 'error'); }
}

async function attach() {
  const ids = [...document.querySelectorAll('#doc-list input:checked')].map((b) => b.value);
  if (await attachDocuments(ids)) say(`${ids.length} document(s) used by "${currentConversation().title}".`);
}

async function remove(id) {
  try { await del(`/documents/${id}`); list(); } catch (e) { say(e.message, 'error'); }
}

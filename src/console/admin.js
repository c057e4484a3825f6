// Usage against the allowance, and for admins the dashboard stats and the
// users list (activate, deactivate, change the allowance, view as).

import { get, post, patch } from './api.js';
import { $, h, say } from './dom.js';
import * as impersonate from './impersonate.js';

export const isAdmin = (user) => user && (user.role === 'admin' || user.role === 'superadmin');

export async function usage() {
  try {
    const u = await get('/users/me/usage');
    const cap = u.monthly_token_allowance;
    const meter = h('meter', { min: 0, max: cap || 1, value: cap ? u.total_tokens : 0, 'aria-label': 'Tokens used this month' });
    $('#usage').replaceChildren(
      h('p', {}, `${u.total_tokens} tokens used this month (${u.period.start.slice(0, 10)} to ${u.period.end.slice(0, 10)}), `,
        cap == null ? 'no allowance set.' : `of ${cap}; ${u.tokens_remaining} left.`),
      cap == null ? '' : meter,
      h('p', {}, `${u.ai_requests} AI requests; ${u.prompt_tokens} prompt and ${u.completion_tokens} completion tokens.`));
  } catch (e) { say(e.message, 'error'); }
}

function stat(title, obj) {
  return h('div.stat', {}, h('h3', {}, title),
    h('dl', {}, Object.entries(obj || {}).flatMap(([k, v]) => [h('dt', {}, k.replaceAll('_', ' ')), h('dd', {}, String(v))])));
}

export async function admin() {
  try {
    const s = await get('/admin/dashboard/stats');
    $('#stats').replaceChildren(...Object.entries(s).filter(([, v]) => v && typeof v === 'object').map(([k, v]) => stat(k, v)));
  } catch (e) {
    $('#stats').replaceChildren(h('p', {}, e.status === 404 ? 'Dashboard stats are not available on this server.' : e.message));
  }
  users();
}

async function users() {
  try {
    const page = await get('/admin/users?limit=100');
    $('#users').replaceChildren(...page.items.map(userRow));
  } catch (e) { say(e.message, 'error'); }
}

function userRow(u) {
  const allowance = h('input', { type: 'number', min: 0, value: u.monthly_token_allowance ?? '',
    placeholder: 'unlimited', 'aria-label': `Monthly token allowance of ${u.username}` });
  const save = async () => {
    const v = allowance.value.trim();
    try {
      await patch(`/admin/users/${u.id}`, { monthly_token_allowance: v === '' ? null : Number(v) });
      say(`Allowance of ${u.username} saved.`);
    } catch (e) { say(e.message, 'error'); }
  };
  const toggle = async () => {
    try {
      await post(`/admin/users/${u.id}/${u.is_active ? 'deactivate' : 'activate'}`);
      users();
    } catch (e) { say(e.message, 'error'); }
  };
  return h('tr', { dataset: { id: u.id } },
    h('td', {}, u.username), h('td', {}, u.email), h('td', {}, u.role),
    h('td', {}, u.is_active ? 'active' : 'inactive'),
    h('td', {}, allowance, h('button', { type: 'button', onclick: save }, 'Save')),
    h('td', {}, h('button', { type: 'button', onclick: toggle }, u.is_active ? 'Deactivate' : 'Activate')),
    h('td', {}, u.role === 'user' && u.is_active
      ? h('button', { type: 'button', onclick: () => impersonate.start(u, $('#impersonate-reason').value) }, 'View as')
      : ''));
}

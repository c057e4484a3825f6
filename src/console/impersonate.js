// "View as": an admin sees the console as a plain user, with the
// one-hour impersonation token of API.md 10. The token lives in memory
// only; every API call and the socket use it until Stop, a 401 or leaving
// the page (which stops it too). The banner shows whenever the server's
// `/auth/me` names an admin in `impersonated_by`.

import { BASE, get, post, useBearer, bearerToken } from './api.js';
import { $, say } from './dom.js';
import * as stream from './stream.js';

let asUser = () => {};
let backToAdmin = () => {};

// `signedIn(user)` shows the console as `user`; `resume()` goes back to
// the admin's own cookie session.
export function init(signedIn, resume) {
  asUser = signedIn;
  backToAdmin = resume;
  $('#impersonation-stop').addEventListener('click', () => stop());
  addEventListener('pagehide', () => {
    const token = bearerToken();
    if (!token) return;
    fetch(`${BASE}/admin/impersonate/stop`, {
      method: 'POST', keepalive: true, headers: { authorization: `Bearer ${token}` },
    }).catch(() => {});
  });
}

export const active = () => bearerToken() != null;

// Starts viewing the console as `user` (a row of the admin's users list).
export async function start(user, reason) {
  if (!reason.trim()) {
    say('Give a reason for the audit log first.', 'error');
    $('#impersonate-reason').focus();
    return;
  }
  try {
    const started = await post('/admin/impersonate/start', { user_id: user.id, reason });
    useBearer(started.token, () => ended('The view as another user has ended.'));
    const me = await get('/auth/me');
    banner(me);
    stream.reconnect();
    await asUser(me);
    say(`Viewing the console as ${me.username}.`);
  } catch (e) {
    useBearer(null);
    say(e.message, 'error');
  }
}

function banner(me) {
  const by = me.impersonated_by;
  $('#impersonation').hidden = !by;
  if (!by) return;
  $('#impersonation-text').textContent =
    `You (${by.username}) are viewing the console as ${me.username} <${me.email}>. Everything you do is audited.`;
  $('#impersonation-stop').textContent = `Stop viewing as ${me.username}`;
}

// Stops the impersonation and, unless `back` is false (the admin is
// logging out), goes back to the admin's own session.
export async function stop(back = true) {
  if (!active()) return;
  try { await post('/admin/impersonate/stop'); } catch { /* it ends here either way */ }
  if (back) await ended('Back to your own account.');
  else { useBearer(null); $('#impersonation').hidden = true; }
}

async function ended(message) {
  useBearer(null);
  $('#impersonation').hidden = true;
  stream.reconnect();
  await backToAdmin();
  say(message);
}

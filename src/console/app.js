// The console's entry: wires the views together. The page paints from the
// HTML alone; every API call happens after.

import { $, show, say } from './dom.js';
import * as auth from './auth.js';
import * as stream from './stream.js';
import * as conversations from './conversations.js';
import * as chat from './chat.js';
import * as documents from './documents.js';
import * as admin from './admin.js';
import * as impersonate from './impersonate.js';

let user = null;

const VIEWS = {
  'chat-view': () => {},
  'documents-view': () => documents.list(),
  'usage-view': () => admin.usage(),
  'admin-view': () => admin.admin(),
};

function go(view) {
  if (view === 'admin-view' && !admin.isAdmin(user)) view = 'chat-view';
  show(view);
  VIEWS[view]();
}

async function signedIn(u) {
  // Another account's view (an admin's "view as", or back): start clean.
  const switching = user && user.id !== u.id;
  if (switching) conversations.close();
  user = u;
  $('#nav').hidden = false;
  $('#whoami').textContent = u.username;
  $('#nav-admin').hidden = !admin.isAdmin(u);
  go('chat-view');
  stream.connect();
  await conversations.loadPickers();
  await conversations.reload();
  const id = !switching && new URLSearchParams(location.hash.slice(1)).get('c');
  if (id) await conversations.open(id);
  document.body.dataset.ready = 'true';
}

function signedOut() {
  user = null;
  $('#nav').hidden = true;
  show('auth-view');
  document.body.dataset.ready = 'true';
}

auth.init(signedIn, signedOut);
impersonate.init(signedIn, auth.resume);
conversations.init((c) => chat.show(c).catch((e) => say(e.message, 'error')));
chat.init();
documents.init();
for (const b of document.querySelectorAll('#nav button[data-view]')) {
  b.addEventListener('click', () => go(b.dataset.view));
}
if (auth.probablySignedIn()) show('chat-view');
auth.resume();

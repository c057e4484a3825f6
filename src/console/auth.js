// Register, log in, keep the session fresh, log out. The tokens live in
// HttpOnly cookies; the access token is kept in memory only to re-auth the
// socket after a refresh.

import { get, post, refresh, hooks, ApiError } from './api.js';
import { $, say } from './dom.js';
import * as stream from './stream.js';
import * as impersonate from './impersonate.js';

let timer = null;
let onIn = () => {};
let onOut = () => {};

const HINT = 'chorus.signed-in';

// Whether the last visit ended signed in: the page paints the app shell at
// once and checks the session afterwards.
export function probablySignedIn() {
  return localStorage.getItem(HINT) === '1';
}

function schedule(expiresIn) {
  clearTimeout(timer);
  const ms = Math.max(1, (expiresIn || 900) * 0.8) * 1000;
  timer = setTimeout(() => refresh().catch(signedOut), ms);
}

function tokens(t) {
  schedule(t.expires_in);
  stream.reauth(t.access_token);
}

function signedOut() {
  clearTimeout(timer);
  localStorage.removeItem(HINT);
  stream.disconnect();
  onOut();
}

export function init(signedIn, signedOutView) {
  onIn = signedIn;
  onOut = signedOutView;
  hooks(signedOut, tokens);
  $('#login-form').addEventListener('submit', (e) => { e.preventDefault(); login(); });
  $('#register-form').addEventListener('submit', (e) => { e.preventDefault(); register(); });
  $('#logout').addEventListener('click', logout);
}

async function start(answer) {
  localStorage.setItem(HINT, '1');
  tokens(answer);
  onIn(answer.user);
}

async function login() {
  const email = $('#login-email').value.trim();
  const password = $('#login-password').value;
  try {
    start(await post('/auth/login', { email, password }));
    say('');
  } catch (e) {
    say(e.status === 401 ? 'Wrong email or password.' : e.message, 'error');
  }
}

async function register() {
  const username = $('#register-username').value.trim();
  const email = $('#register-email').value.trim();
  const password = $('#register-password').value;
  try {
    await post('/auth/register', { username, email, password });
    start(await post('/auth/login', { email, password }));
    say('');
  } catch (e) {
    const field = e.details && e.details.field ? ` (${e.details.field})` : '';
    say(e.message + field, 'error');
  }
}

async function logout() {
  await impersonate.stop(false);
  try { await post('/auth/logout'); } catch { /* the session is gone either way */ }
  signedOut();
}

// On load: a live session goes straight to the app; else the sign-in forms.
export async function resume() {
  try {
    const t = await refresh();
    onIn(t.user || (await get('/auth/me')));
  } catch (e) {
    if (!(e instanceof ApiError)) say('The server cannot be reached.', 'error');
    signedOut();
  }
}

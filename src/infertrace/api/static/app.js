// The InferTrace web UI: the hash router, the top bar and the API token dialog.

import {getToken, onTokenChange, rearmTokenPrompt, setToken, setTokenPrompt} from './api.js';
import * as agents from './agents.js';
import {clear, errorBox, h, setUTC, useUTC} from './dom.js';
import * as logs from './logs.js';
import * as metrics from './metrics.js';
import * as models from './models.js';
import * as pods from './pods.js';
import {currentRoute, go, remember} from './route.js';
import * as search from './search.js';
import * as servicemap from './servicemap.js';
import * as stats from './stats.js';
import * as trace from './trace.js';

const VIEWS = {
  search: {view: search, title: 'Search', nav: 'search'},
  trace: {view: trace, title: 'Trace', nav: 'search'},
  map: {view: servicemap, title: 'Service map', nav: 'map'},
  models: {view: models, title: 'Models', nav: 'models'},
  pods: {view: pods, title: 'Pods', nav: 'pods'},
  agents: {view: agents, title: 'Agents', nav: 'agents'},
  logs: {view: logs, title: 'Logs', nav: 'logs'},
  metrics: {view: metrics, title: 'Metrics', nav: 'metrics'},
  stats: {view: stats, title: 'Stats', nav: 'stats'},
};

let current = null;

/** Render the view the address names; the previous one's requests are cancelled. */
async function route() {
  const {name, arg, params} = currentRoute();
  if (current) current.abort();
  rearmTokenPrompt();
  const controller = new AbortController();
  current = controller;
  const main = document.getElementById('view');
  const container = h('div', {class: `view view-${name}`});
  clear(main).append(container);
  const entry = VIEWS[name];
  for (const link of document.querySelectorAll('#nav a')) {
    link.classList.toggle('active', Boolean(entry) && link.dataset.route === entry.nav);
  }
  if (!entry) {
    document.title = 'InferTrace';
    container.append(errorBox(`There is no page "${name}".`));
    return;
  }
  document.title = `InferTrace — ${entry.title}`;
  remember(name, window.location.hash);
  try {
    await entry.view.render(container, params, {signal: controller.signal, arg});
  } catch (err) {
    if (err && err.name === 'AbortError') return;
    container.append(errorBox(err));
    console.error(err); // eslint-disable-line no-console
  }
}

// ---- API token ---------------------------------------------------------------

const dialog = document.getElementById('token-dialog');
const tokenInput = document.getElementById('token-input');
const tokenMessage = document.getElementById('token-message');
const tokenButton = document.getElementById('token-button');

/** Open the token dialog; resolves to the token saved, or null when cancelled. */
function openTokenDialog(message) {
  if (dialog.open) dialog.close('cancel');
  tokenMessage.textContent = message;
  tokenInput.value = '';
  if (typeof dialog.showModal !== 'function') {
    const given = window.prompt(message); // eslint-disable-line no-alert
    if (given && given.trim()) setToken(given.trim());
    return Promise.resolve(given && given.trim() ? given.trim() : null);
  }
  return new Promise((resolve) => {
    const done = () => {
      dialog.removeEventListener('close', done);
      const given = tokenInput.value.trim();
      if (dialog.returnValue === 'ok' && given) {
        setToken(given);
        resolve(given);
      } else {
        resolve(null);
      }
    };
    dialog.addEventListener('close', done);
    dialog.returnValue = '';
    dialog.showModal();
    tokenInput.focus();
  });
}

setTokenPrompt((rejected) => openTokenDialog(rejected
  ? 'The server did not accept the saved API token. Enter the right one:'
  : 'This server requires an API token for its query API. Enter it to continue:'));

document.getElementById('token-cancel').addEventListener('click', () => dialog.close('cancel'));
document.getElementById('token-forget').addEventListener('click', () => {
  setToken('');
  dialog.close('forget');
  route();
});

const showTokenState = (has) => {
  tokenButton.textContent = has ? 'API token ✓' : 'API token';
  tokenButton.title = has ? 'A token is saved in this browser' : 'Set the API bearer token';
};
onTokenChange(showTokenState);
showTokenState(Boolean(getToken()));
tokenButton.addEventListener('click', async () => {
  const given = await openTokenDialog(getToken()
    ? 'A token is saved. Enter a new one to replace it, or forget it.'
    : 'The bearer token the server was started with (--api-token):');
  if (given) route();
});

// ---- top bar -------------------------------------------------------------------

const utc = document.getElementById('utc');
utc.checked = useUTC();
utc.addEventListener('change', () => {
  setUTC(utc.checked);
  route();
});

document.getElementById('jump').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = event.target.elements.trace;
  const id = input.value.trim().toLowerCase();
  if (!id) return;
  input.value = '';
  go(`trace/${id}`);
});

window.addEventListener('hashchange', route);
if (!window.location.hash) window.history.replaceState(null, '', '#/search');
route();

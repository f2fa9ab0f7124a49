// The frame page /w/{widget}: start screen, states, conversation lifecycle, messages to the loader.
// The call itself (room adapter and UI) is imported only when the visitor starts.
const boot = JSON.parse(document.getElementById('cvi-boot').textContent);
const cfg = boot.config;
// The widget's ui, unless the conversation's room has no Daily Prebuilt (then the page draws the call: loadCall).
let ui = cfg.ui;
document.body.classList.replace('ui-prebuilt', `ui-${ui}`);
const NS = 'cvi';
const $ = (id) => document.getElementById(id);
const embedded = window.parent !== window;
const text = {
  idle: ['Start a face-to-face conversation. We will ask for your camera and microphone.', 'Start conversation'],
  media: [cfg.audio_only ? 'Asking for your microphone. Please allow it in the browser prompt.'
    : 'Asking for your camera and microphone. Please allow them in the browser prompt.'],
  denied: ['Camera or microphone access is blocked. To talk, allow them for this site: click the camera or lock icon ' +
    'in the address bar, choose "Allow" for camera and microphone, then try again.', 'Try again'],
  nodevice: ['No camera or microphone was found. Connect one, then try again.', 'Try again'],
  connecting: ['Connecting…'],
  waiting: ['Waiting for the assistant to join…'],
  busy: ['All assistants are busy right now.', 'Try again'],
  ended: ['The conversation has ended. Thank you!', 'Start again'],
  error: ['Something went wrong.', 'Try again'],
};
const hostState = {idle: 'idle', media: 'starting', connecting: 'starting', waiting: 'waiting', 'in-call': 'in-call',
  busy: 'busy', ended: 'ended', error: 'error', denied: 'error', nodevice: 'error'};

for (const [name, value] of Object.entries(cfg.theme)) {
  if (/^#[0-9a-f]{3,6}$/i.test(value)) document.documentElement.style.setProperty(`--${name.replace('_', '-')}`, value);
}

let overrides = {};
let call = null;      // {conv, room, ui, media, ended}
let state = 'idle';
let hostLast = 'idle';
let busyTimer = 0;
let hiddenTimer = 0;
let gen = 0;          // bumps on every start/end so late answers of an old attempt are ignored

export function post(event, data = {}) {
  if (embedded && boot.origin) window.parent.postMessage({ns: NS, widget: cfg.id, event, data}, boot.origin);
}

function setState(name, detail = '') {
  const previous = state;
  state = name;
  $('app').dataset.state = name;
  const inCall = name === 'in-call';
  $('screen').hidden = inCall;
  $('call').hidden = !(inCall || name === 'waiting');
  if (!inCall) {
    const [message, action] = text[name] || text.error;
    $('screen-text').textContent = detail ? `${message} ${detail}` : message;
    const start = $('start');
    start.hidden = !action;
    start.disabled = false;
    if (action) start.textContent = action;
    $('app').setAttribute('aria-busy', String(!action));
    if (action && document.hasFocus() && previous !== name) start.focus();
  } else {
    $('app').setAttribute('aria-busy', 'false');
  }
  if (hostState[name] !== hostLast) post('state', {state: (hostLast = hostState[name])});
}

async function createConversation() {
  const body = {};
  for (const [key, value] of Object.entries(overrides)) {
    if (cfg.overrides.includes(key) && typeof value === 'string' && value.trim()) body[key] = value;
  }
  const base = `/api/widgets/${encodeURIComponent(cfg.id)}`;
  const headers = {'Content-Type': 'application/json', 'X-Widget-Session': boot.session};
  const create = () => fetch(`${base}/conversations`, {method: 'POST', headers, body: JSON.stringify(body)});
  let res = await create();
  let data = await res.json().catch(() => ({}));
  if (res.status === 401 && /proof-required$/.test(data.type || '')) {
    // This widget asks for a proof of work first (widget_server/pow.py).
    const ch = await (await fetch(`${base}/challenge`, {method: 'POST', headers})).json();
    const {solve} = await import('cvi/pow.js');
    headers['X-Widget-Proof'] = await solve(ch.challenge, ch.bits);
    res = await create();
    data = await res.json().catch(() => ({}));
  }
  if (!res.ok) {
    const err = new Error(data.detail || data.title || `HTTP ${res.status}`);
    err.status = res.status;
    err.code = data.type ? String(data.type).split('/').pop() : `http-${res.status}`;
    err.retryAfter = Number(res.headers.get('Retry-After')) || 0;
    throw err;
  }
  return data;
}

function getMedia() {
  if (!navigator.mediaDevices?.getUserMedia) return Promise.reject(Object.assign(new Error('no media'), {name: 'NotFoundError'}));
  const video = !cfg.audio_only && {width: {ideal: 640}, height: {ideal: 480}, facingMode: 'user'};
  return navigator.mediaDevices.getUserMedia({audio: {echoCancellation: true, noiseSuppression: true}, video});
}

// The server names the room adapter: the create answer's room = {client, prebuilt} (engines/rooms.py).
function loadCall(spec = {client: 'daily', prebuilt: true}) {
  ui = spec.prebuilt === false ? 'custom' : cfg.ui;
  document.body.classList.replace(`ui-${cfg.ui}`, `ui-${ui}`);
  const room = import(`cvi/${spec.client}-room.js`);
  const view = ui === 'prebuilt' ? import('cvi/prebuilt-ui.js') : import('cvi/custom-ui.js');
  return Promise.all([room, view]);
}

function stopMedia(media) {
  media?.getTracks().forEach((t) => t.stop());
}

export async function start() {
  if (call || !['idle', 'ended', 'error', 'busy', 'denied', 'nodevice'].includes(state)) return;
  clearInterval(busyTimer);
  const my = ++gen;
  setState('media');
  const media = getMedia();
  const conv = createConversation();
  const lib = conv.then((c) => loadCall(c.room));
  lib.catch(() => {});
  const current = call = {conv: null, room: null, ui: null, media: null, ended: false, started: false};
  conv.then((c) => {
    current.conv = c;
    // Created after this attempt was over (denied, no device, ended): end it without announcing it to the host.
    if (gen !== my || current.ended) return endConversation(current, 'visitor_ended');
    current.beat = setInterval(() => heartbeat(current), HEARTBEAT_MS);
    post('conversation.created', {conversation_id: c.conversation_id, expires_at: c.expires_at});
  }, () => {});
  let tracks = null;
  try {
    tracks = await media;
    current.media = tracks;
    if (gen !== my) return stopMedia(tracks);
    setState('connecting');
  } catch (err) {
    if (gen !== my) return;
    const missing = err.name === 'NotFoundError' || err.name === 'OverconstrainedError';
    return fail(current, missing ? 'nodevice' : 'denied',
      {code: missing ? 'no-device' : 'permission-denied', message: err.message || err.name});
  }
  let c;
  let modules;
  try {
    [c, modules] = await Promise.all([conv, lib]);
  } catch (err) {
    if (gen !== my) return;
    return failCreate(current, err);
  }
  if (gen !== my) return;
  const [{createRoom}, {mountUI}] = modules;
  setState('waiting');
  try {
    const room = current.room = createRoom({config: {...cfg, ui}, conversation: c, container: $('prebuilt'), media: tracks});
    current.ui = mountUI({room, config: {...cfg, ui}, conversation: c, media: tracks, onEnd: () => end('end_button')});
    wireRoom(current, room);
    await room.join({url: c.conversation_url, token: c.meeting_token, userName: overrides.user_name || 'Guest'});
    if (gen !== my) return;
    if (room.replicaPresent()) started(current);
  } catch (err) {
    if (gen !== my) return;
    fail(current, 'error', {code: err.code || 'join-failed', message: err.message || String(err)});
  }
}

function started(current) {
  if (current.started || current.ended) return;
  current.started = true;
  setState('in-call');
  current.ui.started?.(current.conv);
  post('conversation.started', {conversation_id: current.conv.conversation_id});
}

function wireRoom(current, room) {
  room.on('participant-joined', (e) => { if (!e.participant.local && room.isReplica(e.participant)) started(current); });
  room.on('app-message', (e) => protocol(current, e.data));
  room.on('left-meeting', (e) => {
    if (!current.ended) finish(current, e?.reason === 'ejected' ? 'ejected' : 'ended_by_engine', false);
  });
  room.on('error', (e) => fail(current, 'error', {code: e?.errorMsg || 'room-error', message: e?.detail || e?.errorMsg || 'call failed'}));
}

const SPEAKING = /^conversation\.(?:(user|replica)\.)?(started|stopped)_speaking$/;

function protocol(current, data) {
  if (!data || typeof data !== 'object' || data.message_type !== 'conversation') return;
  if (current.conv && data.conversation_id && data.conversation_id !== current.conv.conversation_id) return;
  const p = data.properties || {};
  const speaking = SPEAKING.exec(data.event_type || '');
  if (data.event_type === 'conversation.utterance') {
    post('utterance', {role: p.role, text: p.speech});
    if (cfg.captions) current.ui?.caption?.(p.role, p.speech);
  } else if (data.event_type === 'conversation.tool_call') {
    let args = p.arguments;
    try { if (typeof args === 'string') args = JSON.parse(args); } catch { /* keep the raw string */ }
    post('tool_call', {name: p.name, arguments: args});
  } else if (speaking) {
    const role = speaking[1] || p.role;
    post('speaking', {role, state: speaking[2]});
    current.ui?.speaking?.(role, speaking[2] === 'started');
  } else {
    post('protocol', data);
  }
}

function failCreate(current, err) {
  if (err.status === 503 || err.status === 429) {
    teardown(current);
    const until = Date.now() + Math.max(1, err.retryAfter || 10) * 1000;
    setState('busy');
    post('error', {code: err.code, message: err.message, retry_after: err.retryAfter});
    const start = $('start');
    const tick = () => {
      const left = Math.ceil((until - Date.now()) / 1000);
      start.disabled = left > 0;
      $('screen-text').textContent = `${text.busy[0]} ${left > 0 ? `You can try again in ${left} s.` : 'You can try again now.'}`;
      if (left <= 0) clearInterval(busyTimer);
    };
    tick();
    busyTimer = setInterval(tick, 1000);
    return;
  }
  if (err.status === 401) {
    // The page's session expired (it lives 15 minutes): a reload gets a fresh one.
    return fail(current, 'error', {code: err.code, message: 'This page has expired. Reloading…'}, () => location.reload());
  }
  fail(current, 'error', {code: err.code || 'network', message: err.message});
}

function fail(current, name, error, then) {
  if (current.ended) return;
  finish(current, 'error', true, name, error.message);
  post('error', error);
  then?.();
}

// While the call is up the server hears from us; silence past its grace ends the conversation.
const HEARTBEAT_MS = cfg.heartbeat_ms || 10000;

function heartbeat(current) {
  const c = current.conv;
  if (!c || current.ended) return;
  fetch(`/api/conversations/${encodeURIComponent(c.conversation_id)}/heartbeat`, {
    method: 'POST', headers: {Authorization: `Bearer ${c.end_token}`},
  }).then((res) => {
    if (res.status === 410 && !current.ended) finish(current, 'ended_by_engine', false);
  }, () => {});
}

function teardown(current) {
  current.ended = true;
  clearInterval(current.beat);
  if (call === current) call = null;
  stopMedia(current.media);
  try { current.ui?.destroy?.(); } catch { /* the UI is gone with the call */ }
  current.room?.leave().catch(() => {});
}

// Ends the engine's conversation (billing stops there) and leaves the room.
function endConversation(current, reason, beacon = false) {
  const c = current.conv;
  if (!c || c.endSent) return;
  c.endSent = true;
  const url = `/api/conversations/${encodeURIComponent(c.conversation_id)}/end`;
  const body = JSON.stringify({end_token: c.end_token, reason});
  if (beacon && navigator.sendBeacon?.(url, new Blob([body], {type: 'text/plain'}))) return;
  fetch(url, {method: 'POST', keepalive: true, headers: {'Content-Type': 'application/json'}, body}).catch(() => {});
}

function finish(current, reason, sendEnd = true, next = 'ended', detail = '') {
  if (current.ended) return;
  const beacon = reason === 'page_hidden';
  teardown(current);
  if (sendEnd) endConversation(current, reason, beacon);
  gen++;
  if (current.conv) post('conversation.ended', {conversation_id: current.conv.conversation_id, reason});
  setState(next, detail);
}

export function end(reason = 'visitor_ended') {
  if (call) finish(call, reason);
  else if (state === 'busy' || state === 'denied' || state === 'nodevice') setState('idle');
}

function onMessage(e) {
  if (!embedded || e.source !== window.parent || e.origin !== boot.origin) return;
  const m = e.data;
  if (!m || m.ns !== NS || typeof m.cmd !== 'string') return;
  const data = m.data || {};
  if (m.cmd === 'config') overrides = data;
  else if (m.cmd === 'start') start();
  else if (m.cmd === 'end') end('visitor_ended');
  else if (m.cmd === 'close') end('panel_closed');
  else if (m.cmd === 'send') send(data);
}

function send(message) {
  const type = message?.event_type;
  // The widget's page_messages lists what a host page may send into the room (default: nothing).
  const allowed = (cfg.page_messages || []).includes(type);
  if (!allowed || !call?.room || !call.conv) {
    post('error', {code: 'send-refused', message: `cannot send ${type} now`});
    return;
  }
  call.room.sendAppMessage({
    message_type: 'conversation', event_type: type, conversation_id: call.conv.conversation_id,
    properties: message.properties || {},
  });
}

window.addEventListener('message', onMessage);
$('start').addEventListener('click', () => (state === 'idle' || state === 'ended' || state === 'error' ||
  state === 'busy' || state === 'denied' || state === 'nodevice') && start());
window.addEventListener('pagehide', () => { if (call) finish(call, 'page_hidden'); });
document.addEventListener('visibilitychange', () => {
  clearTimeout(hiddenTimer);
  // A tab in the background for a minute is a visitor who left; a quick switch is not.
  if (document.visibilityState === 'hidden' && call) hiddenTimer = setTimeout(() => call && finish(call, 'page_hidden'), 60000);
});
document.addEventListener('keydown', (e) => { if (e.key === 'Escape' && embedded) post('request-close'); });
window.addEventListener('focus', () => {
  if (document.activeElement === document.body) ($('start').hidden ? $('screen-title') : $('start')).focus();
});
setState('idle');
post('ready', {theme: cfg.theme, ui: cfg.ui, audio_only: cfg.audio_only, recording: cfg.recording});

// The frame page /w/{widget}: the lobby, the states of a call, its lifecycle, and the messages to and from the
// loader. Nothing is created at the engine (nothing billed) until the visitor presses Join. The call itself
// (room adapter and UI) is imported when the lobby opens, and used only after Join.
import {Lobby, permission, policyAllows} from 'cvi/lobby.js';
import * as oneCall from 'cvi/one-call.js';
import {fillEnded} from 'cvi/ended.js';
import {mediaProblem, refusal} from 'cvi/refusals.js';
import {Transcript} from 'cvi/transcript.js';
import * as i18n from 'cvi/i18n.js';
import {t} from 'cvi/i18n.js';

const boot = JSON.parse(document.getElementById('cvi-boot').textContent);
const cfg = boot.config;
// The widget's ui, unless the conversation's room has no Daily Prebuilt (then the page draws the call: loadCall).
let ui = cfg.ui;
document.body.classList.replace('ui-prebuilt', `ui-${ui}`);
const NS = 'cvi';
const $ = (id) => document.getElementById(id);
const embedded = window.parent !== window;
const video = !cfg.audio_only;   // the replica is seen, and the visitor may be
let name = cfg.display_name;
// Frame states and the host's `state` names (docs/embedding.md).
const VIEW = {idle: 'lobby', lobby: 'lobby', switch: 'screen', connecting: 'screen', queued: 'screen', waiting: 'screen',
  busy: 'screen', refused: 'screen', 'in-call': 'call', reconnecting: 'call', ended: 'ended'};
const HOST = {idle: 'idle', lobby: 'lobby', switch: 'lobby', connecting: 'starting', queued: 'queued', waiting: 'waiting',
  'in-call': 'in-call', reconnecting: 'reconnecting', busy: 'busy', refused: 'error', ended: 'ended'};
const JOINABLE = ['idle', 'lobby', 'switch', 'busy', 'refused', 'ended'];

// The operator's brand (widgets.<id>.theme) over the scheme's palette (frame.css).
for (const [key, value] of Object.entries(cfg.theme)) {
  if (/^#[0-9a-f]{3,6}$/i.test(value)) document.documentElement.style.setProperty(`--${key.replace('_', '-')}`, value);
}
document.documentElement.style.setProperty('--radius', `${cfg.theme.radius}px`);
if (cfg.theme.font) document.documentElement.style.setProperty('--font', cfg.theme.font);

let overrides = {};
let call = null;        // {conv, room, ui, media, mode, ended, started, release}
let state = 'idle';
let hostLast = 'idle';
let open = !embedded;   // the loader says when its panel opens; a page of its own is open
let minimized = false;
let lastMode = video ? 'video' : 'voice';
let retryTimer = 0;
let countTimer = 0;
let hiddenTimer = 0;
let told = false;       // the loader has the launcher's look (ready); a new language sends it again
let gen = 0;            // bumps on every start/end so late answers of an old attempt are ignored
let creating = 0;       // creates not answered yet: the page must stay to end what they bring
const transcript = new Transcript(() => name);
const lobby = new Lobby({video, onMedia: lobbyMedia});

export function post(event, data = {}) {
  if (embedded && boot.origin) window.parent.postMessage({ns: NS, widget: cfg.id, event, data}, boot.origin);
}

// One polite live region, given a sentence only when something the visitor must know happened.
function announce(text) {
  const region = $('announce');
  region.textContent = '';
  requestAnimationFrame(() => { region.textContent = text; });
}

// detail: what a state says besides its name (queued: {position, estimated_wait_s}, on each change).
function reportState(detail = null) {
  const host = minimized && (state === 'in-call' || state === 'reconnecting') ? 'minimized' : HOST[state];
  if (host !== hostLast || detail) post('state', {state: (hostLast = host), ...detail});
}

function focusFirst(view, asked = false) {
  if (!asked && (!document.hasFocus() || (embedded && !open))) return;
  if (!$('confirm').hidden) return $('confirm-no').focus();
  const target = {
    lobby: () => [...document.querySelectorAll('.join button')].find((b) => !b.hidden) || $('lobby-title'),
    screen: () => [$('screen-primary'), $('screen-secondary')].find((b) => !b.hidden) || $('screen-title'),
    call: () => (ui === 'custom' ? $('say-text') : $('end')),
    ended: () => $('ended-title'),
  }[view]();
  target?.focus();
}

function setState(next, screen = null, detail = null) {
  const previous = state;
  state = next;
  $('app').dataset.state = next;
  // Daily Prebuilt draws its own waiting room: it is shown from the join on.
  const view = next === 'waiting' && ui === 'prebuilt' ? 'call' : VIEW[next];
  for (const id of ['lobby', 'screen', 'call', 'ended']) $(id).hidden = id !== view;
  if (screen) drawScreen(screen);
  $('app').setAttribute('aria-busy', String(next === 'connecting' || next === 'waiting'));
  reportState(detail);
  if (previous !== next && VIEW[previous] !== view) focusFirst(view);
}

function drawScreen({text, count = '', primary = null, secondary = null}) {
  $('screen-text').textContent = text;
  $('screen-count').textContent = count;
  for (const [id, action] of [['screen-primary', primary], ['screen-secondary', secondary]]) {
    const button = $(id);
    button.hidden = !action;
    button.textContent = action?.label || '';
    button.onclick = action ? () => action.run() : null;
  }
}

// --- the lobby -------------------------------------------------------------------------------------------

const canVoice = () => video && cfg.allow_voice_only;

function showLobby({ask = false} = {}) {
  if (call) return;
  clearTimers();
  setState('lobby');
  renderLobby();
  if (ask && !lobby.media) lobby.ask();
  loadCall().catch(() => {});   // warm: Join then waits only for the server
}

function lobbyMedia(media) {
  renderLobby();
  const problem = mediaProblem(media, {voice: canVoice(), typing: cfg.allow_text_only});
  if (problem) {
    announce(problem.text);
    post('error', {code: problem.code, device: problem.device, message: problem.text});
  }
}

function renderLobby() {
  const m = lobby.media;
  const micOk = !m || m.mic === 'ok';
  const camOk = !m || m.camera === 'ok';
  const problem = m && mediaProblem(m, {voice: canVoice(), typing: cfg.allow_text_only});
  const show = {
    'join-video': micOk && (!video || camOk),
    'join-voice': micOk && canVoice(),
    'join-text': cfg.allow_text_only,
  };
  let primary = null;
  for (const [id, visible] of Object.entries(show)) {
    const button = $(id);
    if (!button) continue;
    button.hidden = !visible;
    button.classList.toggle('primary', visible && !primary);
    if (visible && !primary) primary = button;
  }
  // The recommended way in leads; the others follow it.
  $('app').classList.toggle('fallback', !!primary && primary.id !== 'join-video');
  $('lobby-status').hidden = !problem;
  $('lobby-status').textContent = problem?.text || '';
  const ask = $('ask-media');
  ask.hidden = !!lobby.asking || (!!m && !problem);
  ask.textContent = t(problem ? 'try_again' : 'check_media');
}

function consentGiven() {
  if (!cfg.consent) return true;
  const box = $('consent');
  if (box.checked) return true;
  $('consent-hint').hidden = false;
  box.focus();
  return false;
}

async function join(mode) {
  if (call || !JOINABLE.includes(state)) return;
  if (mode === 'video' && !video) mode = 'voice';
  if (!consentGiven()) return showLobby();
  lastMode = mode;
  if (mode !== 'text') {
    if (state !== 'lobby') showLobby();
    const m = lobby.media || await lobby.ask();
    // Refused or missing: the lobby says so and offers the fallbacks; nothing is created.
    if (m.mic !== 'ok' || (mode === 'video' && m.camera !== 'ok')) return showLobby();
  }
  if (call) return;
  const release = oneCall.claim();
  if (!release) return offerSwitch(mode);
  if (call) return release();
  const stream = mode === 'text' ? (lobby.release(), null) : lobby.take({video: mode === 'video'});
  startCall(mode, stream, release);
}

function offerSwitch(mode) {
  setState('switch', {
    text: t('switch_text'),
    primary: {label: t('switch_here'), run: async () => {
      const release = await oneCall.takeOver();
      if (!release) return showLobby();
      if (call || state !== 'switch') return release();
      const stream = mode === 'text' ? (lobby.release(), null) : lobby.take({video: mode === 'video'});
      startCall(mode, stream, release);
    }},
    secondary: {label: t('cancel'), run: () => showLobby()},
  });
  announce($('screen-text').textContent);
}

// --- the call --------------------------------------------------------------------------------------------

// The server names the room adapter: the create answer's room = {client, prebuilt} (engines/rooms.py).
// Without a room (warming the lobby) only the view is loaded, so Join then waits only for the server.
const loaded = {};
function loadOnce(name) {
  loaded[name] ||= import(name).catch((err) => { delete loaded[name]; throw err; });
  return loaded[name];
}
function loadCall(spec) {
  if (spec) {
    ui = spec.prebuilt === false ? 'custom' : cfg.ui;
    document.body.classList.replace(`ui-${cfg.ui}`, `ui-${ui}`);
  }
  const view = loadOnce(ui === 'prebuilt' ? 'cvi/prebuilt-ui.js' : 'cvi/custom-ui.js');
  if (!spec) return view;
  return Promise.all([loadOnce(`cvi/${spec.client || 'daily'}-room.js`), view]);
}

async function createConversation(current) {
  const body = {};
  for (const [key, value] of Object.entries(overrides)) {
    if (cfg.overrides.includes(key) && typeof value === 'string' && value.trim()) body[key] = value;
  }
  if (cfg.consent) body.consent = {text_sha256: cfg.consent.text_sha256};
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
  if (res.status === 202) return waitInLine(current, data);
  if (!res.ok) {
    throw Object.assign(new Error(`HTTP ${res.status}`), {
      status: res.status, kind: data.type ? String(data.type).split('/').pop() : '',
      retryAfter: Number(res.headers.get('Retry-After')) || 0,
    });
  }
  return data;
}

const cancel = {get label() { return t('cancel'); }, run: () => call && finish(call, 'cancelled', true, 'lobby')};

// Every slot busy: a place in the waiting line (cvi/line.js) until the visitor's turn creates the conversation.
// The line's module is fetched only when a visitor is in it (the frame page's byte budget).
async function waitInLine(current, place) {
  if (current.ended) throw new Error('cancelled');
  const [{Line}] = await Promise.all([import('cvi/line.js'), i18n.more()]);
  if (current.ended) throw new Error('cancelled');
  current.line = new Line(place, {widget: cfg.id, name, announce, heartbeatMs: HEARTBEAT_MS,
    show: (screen, detail) => {
      if (current.ended) return;
      setState('queued', screen, detail);
      if (screen.primary && document.hasFocus()) $('screen-primary').focus();   // your turn: Join now
    },
    connecting: (text) => { if (!current.ended) setState('connecting', {text, secondary: cancel}); },
    leave: () => call === current && finish(current, 'cancelled', true, 'lobby')});
  return current.line.wait().finally(() => { current.line = null; });
}

async function startCall(mode, stream, release) {
  clearTimers();
  const my = ++gen;
  transcript.clear();
  document.body.dataset.mode = mode;
  const current = call = {conv: null, room: null, ui: null, media: stream, mode, ended: false, started: false,
    release};
  setState('connecting', {text: t('connecting'), secondary: cancel});
  const conv = createConversation(current);
  creating++;
  conv.then((c) => {
    current.conv = c;
    // Created after this attempt was over (cancelled, switched): end it without announcing it to the host.
    if (gen !== my || current.ended) return endConversation(current, 'cancelled');
    current.beat = setInterval(() => heartbeat(current), HEARTBEAT_MS);
    post('conversation.created', {conversation_id: c.conversation_id, expires_at: c.expires_at});
  }, () => {}).then(() => { creating--; released(); });
  let c;
  let mods;
  try {
    c = await conv;
    mods = await loadCall(c.room || {client: 'daily', prebuilt: true});
  } catch (err) {
    if (gen !== my) return;
    return failCreate(current, err);
  }
  if (gen !== my) return;
  const [{createRoom}, {mountUI}] = mods;
  setState('waiting', {text: t('waiting', {name}), secondary: cancel});
  try {
    // Daily Prebuilt takes colours, not "the scheme's": the ones this page shows now.
    const css = getComputedStyle(document.documentElement);
    const theme = {...cfg.theme, background: css.getPropertyValue('--background').trim(),
      base_text: css.getPropertyValue('--base-text').trim()};
    const config = {...cfg, ui, theme, daily_lang: i18n.dailyLang(), reconnect_ms: Math.max(3000, HEARTBEAT_MS * 2.5)};
    const room = current.room = createRoom({config, conversation: c, container: $('prebuilt'), media: stream});
    current.ui = mountUI({room, config, conversation: c, media: stream, mode, transcript, announce,
      speaker: lobby.speaker, onEnd: () => end('end_button')});
    wireRoom(current, room);
    await room.join({url: c.conversation_url, token: c.meeting_token, userName: overrides.user_name || t('guest')});
    if (gen !== my) return;
    if (room.replicaPresent()) started(current);
  } catch (err) {
    if (gen !== my) return;
    finish(current, 'error', true, 'refused');
    drawScreen({text: t('start_failed'), primary: retry, secondary: back});
    announce($('screen-text').textContent);
    post('error', {code: err.code || 'join-failed', message: 'the room could not be joined'});
  }
}

function started(current) {
  if (current.started || current.ended) return;
  current.started = true;
  setState('in-call');
  current.ui.started?.(current.conv);
  announce(t(current.mode === 'text' ? 'connected_text' : 'connected', {name}));
  post('conversation.started', {conversation_id: current.conv.conversation_id});
}

function wireRoom(current, room) {
  room.on('participant-joined', (e) => { if (!e.participant.local && room.isReplica(e.participant)) started(current); });
  room.on('app-message', (e) => protocol(current, e.data));
  room.on('left-meeting', (e) => {
    if (current.ended) return;
    const lost = e?.reason === 'connection-lost';
    finish(current, lost ? 'connection_lost' : e?.reason === 'ejected' ? 'ejected' : 'ended_by_engine', lost);
  });
  room.on('reconnecting', () => {
    if (current.ended || !current.started) return;
    setState('reconnecting');
    $('net').hidden = false;
    $('net').textContent = t('reconnecting');
    announce(t('connection_dropped'));
  });
  room.on('reconnected', () => {
    if (current.ended || state !== 'reconnecting') return;
    $('net').hidden = true;
    setState('in-call');
    announce(t('reconnected'));
  });
  room.on('error', (e) => {
    if (current.ended) return;
    finish(current, 'error', true, 'refused');
    drawScreen({text: t('call_failed'), primary: retry, secondary: back});
    announce($('screen-text').textContent);
    post('error', {code: e?.errorMsg || 'room-error', message: 'the call failed'});
  });
}

const SPEAKING = /^conversation\.(?:(user|replica)\.)?(started|stopped)_speaking$/;

function protocol(current, data) {
  if (!data || typeof data !== 'object' || data.message_type !== 'conversation') return;
  if (current.conv && data.conversation_id && data.conversation_id !== current.conv.conversation_id) return;
  const p = data.properties || {};
  const speaking = SPEAKING.exec(data.event_type || '');
  if (data.event_type === 'conversation.utterance') {
    post('utterance', {role: p.role, text: p.speech});
    current.ui?.caption?.(p.role, p.speech);
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

const retry = {get label() { return t('try_again'); }, run: () => join(lastMode)};
const back = {get label() { return t('back'); }, run: () => showLobby({ask: open})};

function failCreate(current, err) {
  finish(current, 'error', false, 'refused');
  const r = err.line ? {...err.line, action: 'retry'} : refusal(err);
  post('error', {code: r.code, message: r.text, ...(err.retryAfter ? {retry_after: err.retryAfter} : {})});
  announce(r.text);
  if (r.action === 'reload') {
    drawScreen({text: r.text});
    setTimeout(() => location.reload(), 1500);
  } else if (r.action === 'auto') {
    // Busy: try again by itself when the server's Retry-After has passed; the count is for the eye only.
    setState('busy', {text: r.text, secondary: {label: t('cancel'), run: () => showLobby({ask: open})}});
    const tick = () => {
      const left = Math.max(0, Math.ceil((r.retryAt - Date.now()) / 1000));
      $('screen-count').textContent = t('retry_in', {n: i18n.number(left)});
    };
    tick();
    countTimer = setInterval(tick, 1000);
    retryTimer = setTimeout(() => {
      clearTimers();
      if (state === 'busy' && open !== false) join(lastMode);
    }, r.retryAt - Date.now());
  } else {
    drawScreen({text: r.text, primary: r.action === 'retry' ? retry : null, secondary: r.code === 'origin-not-allowed' ? null : back});
  }
}

function clearTimers() {
  clearTimeout(retryTimer);
  clearInterval(countTimer);
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
  current.line?.close();
  clearInterval(current.beat);
  if (call === current) call = null;
  current.media?.getTracks().forEach((t) => t.stop());
  try { current.ui?.destroy?.(); } catch { /* the UI is gone with the call */ }
  current.room?.leave().catch(() => {});
  current.release?.();
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

function finish(current, reason, sendEnd = true, next = 'ended') {
  if (current.ended) return;
  const timeUp = current.conv && Date.parse(current.conv.expires_at) - Date.now() < 3000;
  // The end leaves first: on a slow machine the page may be removed any moment after (cvi('destroy')).
  if (sendEnd) endConversation(current, reason, reason === 'page_hidden');
  teardown(current);
  // Ended while minimized (not by the host page, which closes the panel itself): show why, full size.
  if (minimized && reason !== 'visitor_ended') post('request-open');
  gen++;
  if (current.conv) post('conversation.ended', {conversation_id: current.conv.conversation_id, reason});
  if (next === 'lobby') showLobby({ask: open});
  else if (next === 'ended') showEnded(reason, current, timeUp);
  else setState(next, {text: ''});
  released();
}

// Tells the loader this page holds no conversation and waits for no create: a destroyed widget may go now.
function released() {
  if (!call && !creating) post('released');
}

function showEnded(reason, current, timeUp) {
  const why = fillEnded({reason, conv: current.conv, timeUp, transcript, name});
  setState('ended');
  announce(`${t('ended_title')}. ${why}`);
}

export function end(reason = 'visitor_ended') {
  if (call) finish(call, reason);
  else if (state === 'busy' || state === 'switch' || state === 'refused') showLobby();
}

// --- the loader's commands -------------------------------------------------------------------------------

async function granted() {
  const [mic, cam] = await Promise.all([permission('microphone'), video ? permission('camera') : 'granted']);
  return mic === 'granted' && cam === 'granted';
}

// The host page's cvi('start'): join at once with camera and microphone when they are granted; otherwise the
// lobby asks, offers its fallbacks, and nothing is created until the visitor presses Join.
async function hostStart() {
  open = true;
  if (call) return;
  if (cfg.consent && !$('consent').checked) return showLobby({ask: true});
  if (await granted()) return join('video');
  showLobby({ask: true});
}

async function opened() {
  open = true;
  if (call || !['idle', 'lobby'].includes(state)) return;
  if (cfg.skip_lobby && !cfg.consent && await granted()) return join('video');
  showLobby({ask: true});
}

function closed() {
  open = false;
  if (call) return;
  // Nobody is looking: stop the camera, drop a pending retry.
  lobby.release();
  if (state !== 'ended') setState('lobby');
  clearTimers();
  renderLobby();
}

function confirmClose() {
  if (!call) return post('request-close');
  if (state === 'queued') {
    return showConfirm({title: t('line_confirm_title'), text: t('line_confirm_text'),
      yes: t('line_leave'), no: t('line_stay'), onYes: () => { end('panel_closed'); post('request-close'); }});
  }
  showConfirm({
    title: t('confirm_title'), text: t('confirm_text', {name}),
    yes: t('end_conversation'), no: t('keep_talking'),
    onYes: () => { end('panel_closed'); post('request-close'); },
  });
}

function showConfirm({title, text, yes, no, onYes}) {
  const box = $('confirm');
  const back = document.activeElement;
  $('confirm-title').textContent = title;
  $('confirm-text').textContent = text;
  $('confirm-yes').textContent = yes;
  $('confirm-no').textContent = no;
  const hide = () => {
    box.hidden = true;
    (back && back !== document.body ? back : $('end')).focus?.();
  };
  $('confirm-yes').onclick = () => { box.hidden = true; onYes(); };
  $('confirm-no').onclick = hide;
  box.hidden = false;
  $('confirm-no').focus();
}

function focusEdge(last) {
  const visible = [...document.querySelectorAll('button, input, select, textarea, a[href], summary, [tabindex="0"]')]
    .filter((el) => !el.disabled && el.offsetParent !== null && !el.closest('[hidden]'));
  const scope = $('confirm').hidden ? visible : visible.filter((el) => $('confirm').contains(el));
  (last ? scope[scope.length - 1] : scope[0])?.focus();
}

function onMessage(e) {
  if (!embedded || e.source !== window.parent || e.origin !== boot.origin) return;
  const m = e.data;
  if (!m || m.ns !== NS || typeof m.cmd !== 'string') return;
  const data = m.data || {};
  if (m.cmd === 'config') {
    overrides = data;
    // The loader's panel has a header that names the replica: the call's name tag keeps only its speaking dot.
    document.body.classList.toggle('framed', !!data.header);
    if (cfg.overrides.includes('language') && data.language) setLanguage(i18n.choose(cfg.ui_language, data.language));
  }
  else if (m.cmd === 'open') opened();
  else if (m.cmd === 'start') hostStart();
  else if (m.cmd === 'end') {
    end('visitor_ended');
    released();
  }
  else if (m.cmd === 'close') closed();
  else if (m.cmd === 'confirm-close') confirmClose();
  else if (m.cmd === 'minimize') {
    minimized = !!data.on;
    document.body.classList.toggle('minimized', minimized);
    reportState();
  } else if (m.cmd === 'focus') {
    if (data.last) focusEdge(true);
    else focusFirst(VIEW[state], true);
  }
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
for (const [id, mode] of [['join-video', 'video'], ['join-voice', 'voice'], ['join-text', 'text']]) {
  $(id)?.addEventListener('click', () => join(mode));
}
$('ask-media').addEventListener('click', () => { lobby.release(); lobby.ask(); renderLobby(); });
$('consent')?.addEventListener('change', () => { $('consent-hint').hidden = true; });
$('again').addEventListener('click', () => showLobby({ask: true}));
$('expand').addEventListener('click', () => post('request-open'));
oneCall.onSwitch(() => { if (call) finish(call, 'switched'); });
window.addEventListener('pagehide', () => { if (call) finish(call, 'page_hidden'); });
document.addEventListener('visibilitychange', () => {
  clearTimeout(hiddenTimer);
  // A tab in the background for a minute is a visitor who left; a quick switch is not.
  if (document.visibilityState === 'hidden' && call && state !== 'queued') hiddenTimer = setTimeout(() => call && finish(call, 'page_hidden'), 60000);
});
document.addEventListener('keydown', (e) => {
  if (e.key !== 'Escape') return;
  // Escape never ends a call: it closes the confirmation, or asks the loader to minimize (or close) the panel.
  if (!$('confirm').hidden) return $('confirm-no').click();
  if (embedded) post('request-close');
});
if (!policyAllows('camera') || !policyAllows('microphone')) {
  const missing = ['camera', 'microphone'].filter((f) => !policyAllows(f)).join(' and ');
  console.warn(`cvi: this frame may not use the ${missing}: give its <iframe> allow="camera; microphone; autoplay"` +
    ' and check the Permissions-Policy of the page that embeds it.');
  post('error', {code: 'frame-not-allowed', message: `the page does not let the widget use the ${missing}`});
}
// The visitor's language (docs/config.md, ui_language); names and labels follow it, the launcher's too.
async function setLanguage(code) {
  await i18n.use(code);
  name = cfg.display_name || t('launcher_label');
  i18n.setVars({name});
  i18n.apply();
  for (const id of ['lobby-title', 'screen-title', 'who']) $(id).textContent = name;
  document.title = name;
  renderLobby();
  if (told) post('look', look());
}

// What the loader draws in the host page (static/launcher.css), themed and in the visitor's language.
const ICONS = {
  video: '<rect x="2.5" y="6" width="13" height="12" rx="3"/><path d="M15.5 10.5 21.5 7v10l-6-3.5z"/>',
  chat: '<path d="M5 4h14a2 2 0 0 1 2 2v9a2 2 0 0 1-2 2h-8l-5 4v-4H5a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z"/>',
  wave: '<path d="M4 10v4M8 6v12M12 3v18M16 7v10M20 10v4"/>',
};
const svg = (paths, cls = '') => `<svg class="${cls}" viewBox="0 0 24 24" aria-hidden="true">${paths}</svg>`;
const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function look() {
  const th = cfg.theme;
  const css = getComputedStyle(document.documentElement);
  const vars = {accent: th.accent, 'accent-text': th.accent_text, bg: css.getPropertyValue('--background').trim(),
    fg: css.getPropertyValue('--base-text').trim(), radius: `${th.radius}px`,
    font: th.font || 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif'};
  const avatar = th.launcher_icon === 'avatar' && cfg.avatar_url;
  const icon = avatar ? `<img src="${escape(cfg.avatar_url)}" alt="">` : svg(ICONS[th.launcher_icon] || ICONS.video);
  return {
    theme: th, dir: document.documentElement.dir,
    css: `:host{${Object.entries(vars).map(([k, v]) => `--cvi-${k}:${v}`).join(';')}}${launcherCss}`,
    classes: `${th.launcher_style}${avatar ? ' avatar' : ''}`,
    bubble: `<span class="o">${icon}<span class="l">${escape(th.launcher_label || t('launcher_label'))}</span></span>` +
      `<span class="c">${svg('<path d="M6 6l12 12M18 6 6 18"/>', 'cx')}${svg('<path d="m6 9 6 6 6-6"/>', 'cm')}` +
      '<span class="x"></span></span>',
    title: th.header_title || name,
    labels: {close: t('close'), minimize: t('minimize'), frame: t('frame_title')},
    teaser: cfg.teaser?.text || '', delay: cfg.teaser?.delay_s || 0,
  };
}

// The loader's own look (static/launcher.css): only a page embedded by the loader needs it.
const launcherCss = embedded && boot.origin
  ? await fetch(boot.launcher_css).then((r) => (r.ok ? r.text() : ''), () => '') : '';
i18n.setVars({name});
await setLanguage(i18n.choose(cfg.ui_language, cfg.language));
setState('idle');
renderLobby();
post('ready', {...look(), ui: cfg.ui, audio_only: cfg.audio_only, recording: cfg.recording});
told = true;

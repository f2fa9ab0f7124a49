// A custom front end: session from our back end, conversation from the widget server, call with daily-js.
const $ = (id) => document.getElementById(id);
let call = null;
let conversation = null;
let server = '';
let beat = 0;

function status(text) { $('status').textContent = text; }

async function start() {
  $('start').disabled = true;
  status('Creating the conversation…');
  const s = await (await fetch('session', {method: 'POST'})).json();
  server = s.server;
  const res = await fetch(`${server}/api/widgets/${s.widget}/conversations`, {
    method: 'POST',
    headers: {'Content-Type': 'application/json', 'X-Widget-Session': s.session},
    body: JSON.stringify({}),
  });
  if (!res.ok) {
    const problem = await res.json();
    status(`Could not start: ${problem.detail} ${res.headers.get('Retry-After') ? '(retry later)' : ''}`);
    $('start').disabled = false;
    return;
  }
  conversation = await res.json();
  $('leave').disabled = false;
  // Tell the server the visitor is still here; without it the conversation ends after the grace (30 s default).
  const c = conversation;
  beat = setInterval(() => fetch(`${server}/api/conversations/${c.conversation_id}/heartbeat`, {
    method: 'POST', headers: {Authorization: `Bearer ${c.end_token}`},
  }).then((r) => { if (r.status === 410) leave(); }, () => {}), 10000);
  // daily-js from the widget server (never from a CDN). One call object per page: destroy it when done.
  const {default: Daily} = await import(`${server}/static/vendor/daily-esm.js`);
  call = Daily.createCallObject({subscribeToTracksAutomatically: true});
  call.on('participant-updated', ({participant}) => {
    const track = participant.tracks.video;
    if (!participant.local && track.state === 'playable') $('replica').srcObject = new MediaStream([track.persistentTrack]);
  });
  call.on('app-message', ({data}) => {
    if (data?.event_type === 'conversation.utterance') {
      const li = document.createElement('li');
      li.textContent = `${data.properties.role}: ${data.properties.speech}`;
      $('captions').append(li);
    }
  });
  call.on('error', (e) => { status(`Call error: ${e.errorMsg}`); leave(); });
  status('Joining…');
  window.__cviCustom = {conversation_id: conversation.conversation_id, joining: true};
  try {
    await call.join({url: conversation.conversation_url, token: conversation.meeting_token});
    status('In the call.');
  } catch (err) {
    status(`Could not join: ${err.errorMsg || err.message || err}`);
    await leave();
  }
}

// Always end what was created: the engine bills until the conversation ends.
async function leave(beacon = false) {
  if (!conversation) return;
  const c = conversation;
  conversation = null;
  clearInterval(beat);
  const url = `${server}/api/conversations/${c.conversation_id}/end`;
  const body = JSON.stringify({end_token: c.end_token});
  if (beacon) navigator.sendBeacon(url, new Blob([body], {type: 'text/plain'}));
  else await fetch(url, {method: 'POST', headers: {'Content-Type': 'text/plain'}, body}).catch(() => {});
  try { await call?.leave(); } catch { /* already left */ }
  try { await call?.destroy(); } catch { /* already destroyed */ }
  call = null;
  $('leave').disabled = true;
  $('start').disabled = false;
  if (!beacon) status('Ended.');
}

$('start').addEventListener('click', () => start().catch((e) => status(`Error: ${e.message}`)));
$('leave').addEventListener('click', () => leave());
window.addEventListener('pagehide', () => leave(true));

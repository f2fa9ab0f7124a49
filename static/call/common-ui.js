// What both call UIs share: remaining time and its warning, the record control and indicator,
// the end button, captions.
const $ = (id) => document.getElementById(id);
const WARN_S = 60;

export function mountCommon({room, config, conversation, onEnd}) {
  const timer = $('timer');
  const warning = $('time-warning');
  const indicator = $('rec-indicator');
  const record = $('record');
  const captions = $('captions');
  const expires = Date.parse(conversation.expires_at || '') || Date.now() + config.max_call_duration * 1000;
  let ticking = 0;
  let recording = false;
  let warned = false;

  const tick = () => {
    const left = Math.max(0, Math.round((expires - Date.now()) / 1000));
    timer.textContent = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')}`;
    timer.setAttribute('aria-label', `${Math.ceil(left / 60)} minutes remaining`);
    timer.classList.toggle('low', left <= WARN_S);
    if (left <= WARN_S && !warned) {
      warned = true;
      warning.hidden = false;
      warning.textContent = left > 1 ? `The call will end in ${left} seconds.` : 'The call is ending.';
      setTimeout(() => { warning.hidden = true; }, 8000);
    }
  };

  const setRecording = (on) => {
    recording = on;
    indicator.hidden = !on;
    if (record) {
      record.setAttribute('aria-pressed', String(on));
      record.textContent = on ? 'Stop recording' : 'Record';
    }
  };
  room.on('recording-started', () => setRecording(true));
  room.on('recording-stopped', () => setRecording(false));
  room.on('recording-error', () => setRecording(false));
  if (record) record.onclick = () => (recording ? room.stopRecording() : room.startRecording());
  $('end').onclick = () => onEnd();

  return {
    started() {
      tick();
      ticking = setInterval(tick, 1000);
    },
    caption(role, text) {
      if (!text) return;
      const line = document.createElement('p');
      line.className = role === 'user' ? 'you' : 'them';
      const who = document.createElement('b');
      who.textContent = role === 'user' ? 'You: ' : 'Assistant: ';
      line.append(who, text);
      captions.append(line);
      while (captions.children.length > 2) captions.firstChild.remove();
    },
    destroy() {
      clearInterval(ticking);
      setRecording(false);
      timer.textContent = '';
      warning.hidden = true;
      captions.replaceChildren();
      if (record) record.onclick = null;
      $('end').onclick = null;
    },
  };
}

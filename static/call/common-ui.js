// What both call UIs share: remaining time and its warning, the record control and indicator, the end button,
// captions (on/off) and the transcript panel. Buttons keep their names; aria-pressed says their state.
import {number, t} from 'cvi/i18n.js';

const $ = (id) => document.getElementById(id);
const WARN_S = 60;

export function pressed(button, on) {
  button.setAttribute('aria-pressed', String(on));
}

export function mountCommon({room, config, conversation, transcript, announce, onEnd, mode}) {
  const timer = $('timer');
  const warning = $('time-warning');
  const indicator = $('rec-indicator');
  const record = $('record');
  const captions = $('captions');
  const cc = $('cc');
  const showTranscript = $('show-transcript');
  const panel = $('transcript');
  const expires = Date.parse(conversation.expires_at || '') || Date.now() + config.max_call_duration * 1000;
  let ticking = 0;
  let recording = false;
  let warned = false;

  const tick = () => {
    const left = Math.max(0, Math.round((expires - Date.now()) / 1000));
    timer.textContent = `${number(Math.floor(left / 60))}:${number(Math.floor(left % 60 / 10))}${number(left % 10)}`;
    timer.setAttribute('aria-label', t('minutes_left', {n: number(Math.ceil(left / 60))}));
    timer.classList.toggle('low', left <= WARN_S);
    if (left <= WARN_S && !warned) {
      warned = true;
      warning.hidden = false;
      warning.textContent = left > 1 ? t('ends_in', {n: number(left)}) : t('ending');
      announce(warning.textContent);
      setTimeout(() => { warning.hidden = true; }, 8000);
    }
  };

  const setRecording = (on) => {
    recording = on;
    indicator.hidden = !on;
    if (record) pressed(record, on);
  };
  room.on('recording-started', () => setRecording(true));
  room.on('recording-stopped', () => setRecording(false));
  room.on('recording-error', () => setRecording(false));
  if (record) record.onclick = () => (recording ? room.stopRecording() : room.startRecording());
  $('end').onclick = () => onEnd();

  let captionsOn = config.captions && mode !== 'text';
  cc.hidden = !config.captions || mode === 'text';
  pressed(cc, captionsOn);
  captions.hidden = !captionsOn;
  cc.onclick = () => {
    captionsOn = !captionsOn;
    pressed(cc, captionsOn);
    captions.hidden = !captionsOn;
  };
  const setPanel = (on) => {
    pressed(showTranscript, on);
    panel.hidden = !on;
    document.body.classList.toggle('with-transcript', on);
  };
  // Typing instead of talking: the transcript is the conversation, so it is open from the start.
  setPanel(mode === 'text');
  showTranscript.onclick = () => setPanel(panel.hidden);
  transcript.attach($('lines'));

  return {
    // A visitor who typed turned the microphone on: captions can be had now.
    talking() { cc.hidden = !config.captions; },
    started() {
      tick();
      ticking = setInterval(tick, 1000);
    },
    caption(role, text) {
      transcript.add(role, text);
      if (!text) return;
      const line = document.createElement('p');
      line.className = role === 'user' ? 'you' : 'them';
      const who = document.createElement('b');
      who.append(Object.assign(document.createElement('bdi'), {textContent: transcript.who(role)}), ': ');
      line.append(who, Object.assign(document.createElement('bdi'), {textContent: text}));
      captions.append(line);
      while (captions.children.length > 2) captions.firstChild.remove();
    },
    destroy() {
      clearInterval(ticking);
      setRecording(false);
      timer.textContent = '';
      warning.hidden = true;
      captions.replaceChildren();
      setPanel(false);
      if (record) record.onclick = null;
      $('end').onclick = cc.onclick = showTranscript.onclick = null;
    },
  };
}

// The sandbox's call page (conversation_url opened by a browser): its stand-in for Daily Prebuilt.
// It joins with the same room adapter as the widget's frame page, and shows the replica, a self view,
// captions, a text box (the sandbox recognises no speech) and Leave.
import {createRoom} from 'cvi/sandbox-room.js';

const config = JSON.parse(document.getElementById('room-config').textContent);
const $ = (id) => document.getElementById(id);
const status = $('status');
const REFUSED = {
  'no-room': ['This conversation is over', 'It has ended, or it never existed.'],
  'not-allowed': ['This room is private', 'Open it with its meeting token: the conversation URL followed by ?t=<meeting_token>.'],
  'exp-token': ['This link has expired', 'Its meeting token is no longer valid.'],
  'meeting-full': ['This call is full', 'The room has as many participants as it allows.'],
};

let room = null;
let media = null;
let over = false;

function say(text) { status.textContent = text; }

function finish(title, text) {
  if (over) return;
  over = true;
  for (const v of [$('replica'), $('self')]) v.srcObject = null;
  media?.getTracks().forEach((t) => t.stop());
  $('call').hidden = true;
  $('over-title').textContent = title;
  $('over-text').textContent = text;
  $('over').hidden = false;
}

function showReplica(participant) {
  const track = participant?.tracks?.video?.persistentTrack;
  const video = $('replica');
  if (track && video.srcObject?.getVideoTracks()[0] !== track) video.srcObject = new MediaStream([track]);
  video.classList.toggle('voice', !track);
  say(`In the call with ${participant.user_name || 'the replica'}`);
  status.classList.add('quiet');
}

function caption(event) {
  const replica = Object.values(room.participants()).find((p) => room.isReplica(p));
  const who = event.participantId === replica?.session_id ? (replica.user_name || 'Replica') : 'You';
  const line = $('captions');
  line.textContent = `${who}: ${event.text}`;
  line.hidden = false;
}

async function start() {
  if (!config.found) {
    finish(...REFUSED['no-room']);
    return;
  }
  try {
    media = await navigator.mediaDevices.getUserMedia({audio: true, video: !config.audio_only});
  } catch {
    media = null; // no camera or microphone (or refused): join anyway, and type
  }
  if (media?.getVideoTracks().length) {
    $('self').srcObject = new MediaStream(media.getVideoTracks());
    $('self').hidden = false;
  }
  $('mic').hidden = !media?.getAudioTracks().length;
  room = createRoom({config: {greenscreen: config.greenscreen, audio_only: config.audio_only}, media});
  room.on('participant-joined', ({participant}) => { if (room.isReplica(participant)) showReplica(participant); });
  room.on('participant-updated', ({participant}) => { if (room.isReplica(participant)) showReplica(participant); });
  room.on('participant-left', ({participant}) => {
    if (room.isReplica(participant)) say('The replica has left the call');
  });
  room.on('transcription-message', caption);
  room.on('left-meeting', ({reason}) => {
    if (reason === 'left') finish('You left the call', 'The conversation ends when everyone has left.');
    else finish('The conversation has ended', 'Thank you for trying the sandbox.');
  });
  room.on('reconnecting', () => say('Reconnecting…'));
  const url = location.origin + location.pathname;
  const token = new URLSearchParams(location.search).get('t') || undefined;
  try {
    const people = await room.join({url, token});
    const replica = Object.values(people).find((p) => !p.local && room.isReplica(p));
    if (replica) showReplica(replica);
    else say('Waiting for the replica to join…');
    $('say').hidden = false;
  } catch (err) {
    finish(...(REFUSED[err.code] || ['Could not join', err.message]));
  }
}

$('say').addEventListener('submit', (e) => {
  e.preventDefault();
  const input = $('say-text');
  if (room && input.value.trim()) room.say(input.value.trim());
  input.value = '';
});

$('mic').addEventListener('click', () => {
  const muted = $('mic').getAttribute('aria-pressed') !== 'true';
  room?.setLocalAudio(!muted);
  $('mic').setAttribute('aria-pressed', String(muted));
});

$('leave').addEventListener('click', async () => {
  await room?.leave();
  finish('You left the call', 'The conversation ends when everyone has left.');
});

addEventListener('pagehide', () => { room?.leave(); });

start();

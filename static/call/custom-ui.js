// Our own call UI on a room (sandbox or daily-js call object): the replica large, the visitor's camera small,
// captions and transcript, mute / camera / record / end, typed messages, remaining time, speaking indicators,
// the "you are muted" nudge, a network hint, and the chroma key for green-screened replicas.
import {runChromaKey} from 'cvi/chroma.js';
import {mountCommon, pressed} from 'cvi/common-ui.js';
import {t} from 'cvi/i18n.js';
import {levelMeter} from 'cvi/lobby.js';

const $ = (id) => document.getElementById(id);
const SPEAKING = 0.12;   // microphone level that counts as speaking
const NUDGE_MS = 600;    // that long while muted shows the nudge

export function mountUI({room, config, conversation, media, mode, transcript, announce, speaker, onEnd}) {
  const common = mountCommon({room, config, conversation, transcript, announce, onEnd, mode});
  const video = $('replica-video');
  const canvas = $('replica-canvas');
  const stage = $('stage');
  const audio = $('replica-audio');
  let chroma = null;

  if (config.greenscreen) {
    stage.classList.add('keyed');
    const bg = config.background || '#0b1020';
    // "blur": the replica's own picture, blurred (frame.css .stage.blur), or the accent's glow without one.
    const image = bg === 'blur' ? config.avatar_url : /^https?:/.test(bg) && bg;
    stage.classList.toggle('blur', bg === 'blur');
    if (image) stage.style.backgroundImage = `url("${encodeURI(image)}")`;
    else if (bg === 'blur') stage.style.backgroundColor = config.theme.accent;
    else stage.style.backgroundColor = bg;
  }
  const self = $('self-view');
  const hasVideo = !!media?.getVideoTracks().length;
  if (hasVideo) self.srcObject = new MediaStream(media.getVideoTracks());
  self.hidden = !hasVideo;
  if (speaker && audio.setSinkId) audio.setSinkId(speaker).catch(() => {});

  function attach(p) {
    if (p.local || !room.isReplica(p)) return;
    const v = p.tracks?.video;
    const a = p.tracks?.audio;
    if (v?.state === 'playable' && v.persistentTrack && video.srcObject?.getVideoTracks()[0] !== v.persistentTrack) {
      video.srcObject = new MediaStream([v.persistentTrack]);
      video.play().catch(() => {});
      if (!config.greenscreen) {
        $('replica-backdrop').srcObject = video.srcObject;
        $('replica-backdrop').play().catch(() => {});
      }
      if (config.greenscreen && !chroma) {
        chroma = runChromaKey(video, canvas);
        stage.dataset.chroma = chroma.kind;
      }
    }
    if (a?.state === 'playable' && a.persistentTrack && audio.srcObject?.getAudioTracks()[0] !== a.persistentTrack) {
      audio.srcObject = new MediaStream([a.persistentTrack]);
      audio.play().catch(() => {});
    }
  }
  const onParticipant = (e) => attach(e.participant);
  room.on('participant-joined', onParticipant);
  room.on('participant-updated', onParticipant);
  room.on('joined-meeting', () => Object.values(room.participants()).forEach(attach));
  room.on('track-started', (e) => e.participant && attach(e.participant));

  const net = $('net');
  room.on('network-quality-change', (e) => {
    const poor = e?.threshold === 'low' || e?.threshold === 'very-low';
    net.hidden = !poor;
    net.textContent = poor ? t('weak_connection') : '';
  });

  let muted = false;
  let camOff = !hasVideo;
  const mic = $('mic');
  const cam = $('cam');
  const nudge = $('nudge');
  mic.hidden = mode === 'text' || !media?.getAudioTracks().length;
  cam.hidden = !hasVideo;
  pressed(mic, false);
  pressed(cam, false);
  let loud = 0;
  let nudged = false;
  const stopMeter = levelMeter(media, (level, raw) => {
    stage.classList.toggle('user-speaking', level > SPEAKING);
    // Speaking while muted: tell the visitor (once per mute, announced once).
    loud = muted && raw > SPEAKING ? loud + 50 : 0;
    if (loud >= NUDGE_MS && nudge.hidden) {
      nudge.hidden = false;
      if (!nudged) announce(nudge.textContent);
      nudged = true;
    }
  });
  mic.onclick = () => {
    muted = !muted;
    room.setLocalAudio(!muted);
    pressed(mic, muted);
    if (!muted) {
      nudge.hidden = true;
      nudged = false;
    }
  };
  cam.onclick = () => {
    camOff = !camOff;
    room.setLocalVideo(!camOff);
    pressed(cam, camOff);
    self.hidden = camOff;
  };

  const form = $('say');
  const input = $('say-text');
  form.onsubmit = (e) => {
    e.preventDefault();
    const value = input.value.trim();
    if (!value) return;
    room.say(value);
    input.value = '';
  };

  return {
    started() {
      common.started();
      if (document.hasFocus()) input.focus();
    },
    caption: common.caption,
    speaking(role, on) { stage.classList.toggle(`${role}-speaking`, on); },
    destroy() {
      chroma?.stop();
      stopMeter();
      common.destroy();
      video.srcObject = null;
      $('replica-backdrop').srcObject = null;
      self.srcObject = null;
      audio.srcObject = null;
      stage.classList.remove('keyed', 'blur', 'replica-speaking', 'user-speaking');
      mic.onclick = cam.onclick = form.onsubmit = null;
      pressed(mic, false);
      pressed(cam, false);
      nudge.hidden = true;
      net.hidden = true;
      self.hidden = false;
    },
  };
}

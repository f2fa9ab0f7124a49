// Our own call UI on a room (sandbox or daily-js call object): replica large, self view small, captions,
// mute / camera / record / end, typed messages, remaining time, and the chroma key for green-screened replicas.
import {runChromaKey} from 'cvi/chroma.js';
import {mountCommon} from 'cvi/common-ui.js';

const $ = (id) => document.getElementById(id);

export function mountUI({room, config, conversation, media, onEnd}) {
  const common = mountCommon({room, config, conversation, onEnd});
  const video = $('replica-video');
  const canvas = $('replica-canvas');
  const stage = $('stage');
  let chroma = null;
  const cleanups = [common.destroy];

  if (config.greenscreen) {
    stage.classList.add('keyed');
    const bg = config.background || '#0b1020';
    if (/^https?:/.test(bg)) stage.style.backgroundImage = `url("${encodeURI(bg)}")`;
    else stage.style.backgroundColor = bg;
  }
  const self = $('self-view');
  if (media && media.getVideoTracks().length) self.srcObject = new MediaStream(media.getVideoTracks());

  function attach(p) {
    if (p.local || !room.isReplica(p)) return;
    const v = p.tracks?.video;
    const a = p.tracks?.audio;
    if (v?.state === 'playable' && v.persistentTrack && video.srcObject?.getVideoTracks()[0] !== v.persistentTrack) {
      video.srcObject = new MediaStream([v.persistentTrack]);
      video.play().catch(() => {});
      if (config.greenscreen && !chroma) {
        chroma = runChromaKey(video, canvas);
        stage.dataset.chroma = chroma.kind;
      }
    }
    const audio = $('replica-audio');
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

  let micOn = true;
  let camOn = !config.audio_only;
  const mic = $('mic');
  const cam = $('cam');
  const toggle = (button, on, label) => {
    button.setAttribute('aria-pressed', String(on));
    button.textContent = `${label} ${on ? 'on' : 'off'}`;
  };
  mic.onclick = () => { micOn = !micOn; room.setLocalAudio(micOn); toggle(mic, micOn, 'Mic'); };
  cam.onclick = () => {
    camOn = !camOn;
    room.setLocalVideo(camOn);
    toggle(cam, camOn, 'Camera');
    self.hidden = !camOn;
  };
  cam.hidden = config.audio_only;

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
      cleanups.forEach((f) => f());
      video.srcObject = null;
      self.srcObject = null;
      $('replica-audio').srcObject = null;
      stage.classList.remove('keyed', 'replica-speaking', 'user-speaking');
      mic.onclick = cam.onclick = form.onsubmit = null;
      toggle(mic, true, 'Mic');
      toggle(cam, true, 'Camera');
      self.hidden = false;
    },
  };
}

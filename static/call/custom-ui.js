// Our own call UI on a room (sandbox or daily-js call object): the replica large, the visitor's camera small,
// captions and transcript, mute / camera / record / end, typed messages, remaining time, speaking indicators,
// the "you are muted" nudge, a network hint, and the chroma key for green-screened replicas.
import {runChromaKey} from 'cvi/chroma.js';
import {mountCommon, pressed} from 'cvi/common-ui.js';
import {more, t} from 'cvi/i18n.js';
import {askDevice, levelMeter} from 'cvi/lobby.js';
import {deviceProblem} from 'cvi/refusals.js';

const $ = (id) => document.getElementById(id);
const SPEAKING = 0.12;   // microphone level that counts as speaking
const NUDGE_MS = 600;    // that long while muted shows the nudge

export function mountUI({room, config, conversation, media, mode, transcript, announce, speaker, onEnd}) {
  more();   // the words for a device refused during the call (i18n.py DEFERRED)
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
  let hasVideo = !!media?.getVideoTracks().length;
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

  // Joined typing or with voice only, the visitor may turn the microphone or the camera on now: the buttons
  // show them off (pressed), and pressing asks the browser at that moment.
  let talking = !!media?.getAudioTracks().length;
  let muted = !talking;
  let camOff = !hasVideo;
  const mic = $('mic');
  const cam = $('cam');
  const nudge = $('nudge');
  const note = $('device-note');
  const mayTalk = config.audio_only || config.allow_voice_only;
  mic.hidden = !talking && !(mode === 'text' && mayTalk);
  cam.hidden = config.audio_only || !talking;
  pressed(mic, muted);
  pressed(cam, camOff);
  let loud = 0;
  let nudged = false;
  let gone = false;
  const added = [];
  const onLevel = (level, raw) => {
    stage.classList.toggle('user-speaking', level > SPEAKING);
    // Speaking while muted: tell the visitor (once per mute, announced once). Speech dips between syllables, so
    // the quiet moments only wear the count down: about 600 ms of voice within a sentence or two is enough.
    loud = !muted ? 0 : raw > SPEAKING ? loud + 50 : Math.max(0, loud - 25);
    if (loud >= NUDGE_MS && nudge.hidden) {
      nudge.hidden = false;
      if (!nudged) announce(nudge.textContent);
      nudged = true;
    }
  };
  let stopMeter = levelMeter(media, onLevel);

  let asking = null;
  let noteTimer = 0;
  async function turnOn(kind) {
    const got = await (asking ||= askDevice(kind).finally(() => { asking = null; }));
    if (gone) return got.track?.stop();
    clearTimeout(noteTimer);
    note.hidden = !got.problem;
    if (got.problem) {
      note.textContent = deviceProblem(kind === 'video' ? 'camera' : 'microphone', got.problem);
      announce(note.textContent);
      noteTimer = setTimeout(() => { note.hidden = true; }, 15000);
      return null;
    }
    added.push(got.track);
    await room.addLocalTrack(got.track);
    return got.track;
  }

  mic.onclick = async () => {
    if (!talking) {
      const track = await turnOn('audio');
      if (!track) return;
      talking = true;
      muted = false;
      pressed(mic, false);
      stopMeter();
      stopMeter = levelMeter(new MediaStream([track]), onLevel);
      cam.hidden = config.audio_only;
      document.body.dataset.mode = 'voice';
      common.talking();
      return;
    }
    muted = !muted;
    room.setLocalAudio(!muted);
    pressed(mic, muted);
    if (!muted) {
      nudge.hidden = true;
      nudged = false;
    }
  };
  cam.onclick = async () => {
    if (!hasVideo) {
      const track = await turnOn('video');
      if (!track) return;
      hasVideo = true;
      camOff = false;
      pressed(cam, false);
      self.srcObject = new MediaStream([track]);
      self.hidden = false;
      document.body.dataset.mode = 'video';
      return;
    }
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
      gone = true;
      added.forEach((t) => t.stop());
      clearTimeout(noteTimer);
      note.hidden = true;
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

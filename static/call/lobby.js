// The lobby: camera preview, device pickers, a microphone level meter, and the visitor's choice of how to
// join. Nothing here talks to the server: the conversation is created only when the visitor presses Join.
import {number, t} from 'cvi/i18n.js';

const $ = (id) => document.getElementById(id);

// What a getUserMedia refusal means for the visitor.
function why(err) {
  const name = err?.name || '';
  if (name === 'NotAllowedError' || name === 'SecurityError' || name === 'PermissionDeniedError') return 'denied';
  if (name === 'NotReadableError' || name === 'AbortError' || name === 'TrackStartError') return 'in-use';
  return 'missing'; // NotFoundError, OverconstrainedError, no mediaDevices at all
}

async function tryMedia(constraints) {
  try {
    return [await navigator.mediaDevices.getUserMedia(constraints), null];
  } catch (err) {
    return [null, err];
  }
}

// The frame's own Permissions-Policy (the iframe's allow attribute): a refusal here is the page owner's to fix.
export function policyAllows(feature) {
  const policy = document.permissionsPolicy || document.featurePolicy;
  try { return policy ? policy.allowsFeature(feature) : true; } catch { return true; }
}

export async function permission(name) {
  try { return (await navigator.permissions.query({name})).state; } catch { return 'unknown'; }
}

const MIC = {echoCancellation: true, noiseSuppression: true};
const CAMERA = {width: {ideal: 640}, height: {ideal: 480}, facingMode: 'user'};

/** Camera and microphone with fallbacks: {stream, camera, mic}, each 'ok' | 'off' | 'denied' | 'missing' | 'in-use'.
 * Asks once for both; when that fails, once more for the microphone alone, so a visitor without a camera (or
 * who refused it) can still talk. A refused permission is not asked for again: the browser answers at once. */
export async function acquire({video, audioId = '', videoId = ''}) {
  if (!navigator.mediaDevices?.getUserMedia) return {stream: null, camera: video ? 'missing' : 'off', mic: 'missing'};
  const audio = {...MIC};
  if (audioId) audio.deviceId = {exact: audioId};
  const cam = video && {...CAMERA};
  if (cam && videoId) cam.deviceId = {exact: videoId};
  if (!policyAllows('microphone')) return {stream: null, camera: video ? 'policy' : 'off', mic: 'policy'};
  const camAllowed = !cam || policyAllows('camera');
  if (cam && camAllowed) {
    const [both, err] = await tryMedia({audio, video: cam});
    if (both) return {stream: both, camera: 'ok', mic: 'ok'};
    const [voice, micErr] = await tryMedia({audio});
    if (voice) return {stream: voice, camera: why(err), mic: 'ok'};
    return {stream: null, camera: why(err), mic: why(micErr)};
  }
  const [voice, micErr] = await tryMedia({audio});
  return {stream: voice, camera: video ? 'policy' : 'off', mic: voice ? 'ok' : why(micErr)};
}

/** One device asked for during the call ('audio' or 'video'): {track}, or {problem} as acquire() names it.
 * The browser asks the visitor now, unless the site's permission is already decided. */
export async function askDevice(kind) {
  const feature = kind === 'video' ? 'camera' : 'microphone';
  if (!policyAllows(feature)) return {problem: 'policy'};
  if (!navigator.mediaDevices?.getUserMedia) return {problem: 'missing'};
  const [stream, err] = await tryMedia(kind === 'video' ? {video: CAMERA} : {audio: MIC});
  return stream ? {track: stream.getTracks()[0]} : {problem: why(err)};
}

export function stopStream(stream) {
  stream?.getTracks().forEach((t) => t.stop());
}

/** Calls onLevel(level, raw) (0..1; level is 0 while muted) about 20 times a second; returns stop(). */
export function levelMeter(stream, onLevel) {
  const track = stream?.getAudioTracks()[0];
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (!track || !Ctx) return () => {};
  let ctx;
  try { ctx = new Ctx(); } catch { return () => {}; }
  // A clone: muting disables the call's track, which then gives silence, and the nudge needs to hear the visitor.
  const copy = track.clone();
  const source = ctx.createMediaStreamSource(new MediaStream([copy]));
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 512;
  source.connect(analyser);
  const data = new Uint8Array(analyser.fftSize);
  // Autoplay rules may start the context suspended: the visitor's first touch resumes it.
  const resume = () => ctx.state === 'suspended' && ctx.resume().catch(() => {});
  resume();
  document.addEventListener('pointerdown', resume);
  document.addEventListener('keydown', resume);
  const timer = setInterval(() => {
    analyser.getByteTimeDomainData(data);
    let peak = 0;
    for (const v of data) peak = Math.max(peak, Math.abs(v - 128));
    onLevel(track.enabled ? Math.min(1, peak / 64) : 0, Math.min(1, peak / 64));
  }, 50);
  return () => {
    clearInterval(timer);
    copy.stop();
    document.removeEventListener('pointerdown', resume);
    document.removeEventListener('keydown', resume);
    ctx.close().catch(() => {});
  };
}

function fill(select, devices, current) {
  select.replaceChildren(...devices.map((d, i) => {
    const option = document.createElement('option');
    option.value = d.deviceId;
    option.textContent = d.label || t('device_n', {n: number(i + 1)});
    option.selected = d.deviceId === current;
    return option;
  }));
}

/** The lobby's media part: preview, pickers, meter. `media` is {stream, camera, mic} as acquire() gives. */
export class Lobby {
  constructor({video, onMedia}) {
    this.video = video;       // the widget shows the replica and may use the visitor's camera
    this.onMedia = onMedia;   // (media) => void, after every acquisition
    this.media = null;
    this.asking = null;
    this.stopMeter = () => {};
    this.speaker = '';
    const pick = (id, kind) => $(id).addEventListener('change', () => this.reacquire(kind, $(id).value));
    pick('pick-camera', 'video');
    pick('pick-mic', 'audio');
    $('pick-speaker').addEventListener('change', () => { this.speaker = $('pick-speaker').value; });
  }

  /** Ask (or ask again) for the camera and microphone; resolves with {stream, camera, mic}. */
  ask(ids = {}) {
    if (this.asking) return this.asking;
    $('preview').dataset.media = 'asking';
    $('preview-off-text').textContent = t(this.video ? 'asking_both' : 'asking_mic');
    this.asking = acquire({video: this.video, ...ids}).then((media) => {
      this.asking = null;
      this.release();
      this.media = media;
      this.show(media);
      this.onMedia(media);
      return media;
    });
    return this.asking;
  }

  reacquire(kind, id) {
    const ids = {
      videoId: kind === 'video' ? id : this.media?.stream?.getVideoTracks()[0]?.getSettings().deviceId || '',
      audioId: kind === 'audio' ? id : this.media?.stream?.getAudioTracks()[0]?.getSettings().deviceId || '',
    };
    this.release();
    return this.ask(ids);
  }

  show(media) {
    const video = $('preview-video');
    const hasVideo = !!media.stream?.getVideoTracks().length;
    video.srcObject = hasVideo ? new MediaStream(media.stream.getVideoTracks()) : null;
    if (hasVideo) video.play().catch(() => {});
    $('preview').dataset.media = hasVideo ? 'video' : media.mic === 'ok' ? 'voice' : 'none';
    $('preview-off-text').textContent = !this.video ? t('subtitle_voice')
      : media.camera === 'ok' ? '' : t(media.mic === 'ok' ? 'camera_off' : 'camera_mic_off');
    const bars = [...$('meter').children];
    this.stopMeter = levelMeter(media.stream, (level) => {
      bars.forEach((bar, i) => bar.classList.toggle('on', level > (i + 0.5) / bars.length));
    });
    this.devices(media).catch(() => {});
  }

  async devices(media) {
    if (!navigator.mediaDevices?.enumerateDevices || !media.stream) {
      $('devices').hidden = true;
      return;
    }
    const all = await navigator.mediaDevices.enumerateDevices();
    const current = (kind) => media.stream[kind === 'video' ? 'getVideoTracks' : 'getAudioTracks']()[0]
      ?.getSettings().deviceId || '';
    const cams = all.filter((d) => d.kind === 'videoinput');
    const mics = all.filter((d) => d.kind === 'audioinput');
    const speakers = 'setSinkId' in HTMLMediaElement.prototype ? all.filter((d) => d.kind === 'audiooutput') : [];
    fill($('pick-camera'), cams, current('video'));
    fill($('pick-mic'), mics, current('audio'));
    fill($('pick-speaker'), speakers, this.speaker || 'default');
    $('pick-camera-row').hidden = !this.video || media.camera !== 'ok' || !cams.length;
    $('pick-mic-row').hidden = media.mic !== 'ok' || !mics.length;
    $('pick-speaker-row').hidden = speakers.length < 1;
    $('devices').hidden = $('pick-camera-row').hidden && $('pick-mic-row').hidden && $('pick-speaker-row').hidden;
  }

  /** Hands the tracks to the call: the lobby forgets them (the call stops them when it ends). */
  take({video}) {
    const stream = this.media?.stream || null;
    if (stream && !video) stream.getVideoTracks().forEach((t) => { t.stop(); stream.removeTrack(t); });
    this.stopMeter();
    this.stopMeter = () => {};
    $('preview-video').srcObject = null;
    this.media = null;
    return stream;
  }

  release() {
    this.stopMeter();
    this.stopMeter = () => {};
    stopStream(this.media?.stream);
    $('preview-video').srcObject = null;
    this.media = null;
    $('preview').dataset.media = 'none';
  }
}

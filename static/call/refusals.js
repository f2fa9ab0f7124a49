// Each refusal in its own words, with what the visitor can do about it, and the `error` code the host page gets.
// Never the server's or the engine's own text: that is for the operator's logs, not for the visitor.
import {t, time} from 'cvi/i18n.js';

export function clock(at) {
  return time(new Date(at));
}

/** A failed create (an Error with status, kind, retryAfter) as {code, text, action, retryAt}. */
export function refusal(err, now = Date.now()) {
  const kind = err.kind || '';
  const retryAt = now + Math.max(1, err.retryAfter || 0) * 1000;
  if (kind === 'busy' || kind === 'engine-concurrency' || (err.status === 503 && kind === 'unavailable')) {
    return {code: 'busy', retryAt, action: 'auto',
      text: t('busy')};
  }
  if (kind === 'rate-limited') {
    return {code: 'rate-limited', retryAt, action: 'none',
      text: t('rate_limited', {time: clock(retryAt)})};
  }
  if (kind === 'budget-spent') {
    return {code: 'budget-spent', retryAt, action: 'none',
      text: t('budget_spent', {time: clock(retryAt)})};
  }
  if (kind === 'origin-not-allowed') {
    return {code: 'origin-not-allowed', action: 'none',
      text: t('origin_refused')};
  }
  if (err.status === 401 || kind === 'session-invalid') {
    return {code: 'session-expired', action: 'reload', text: t('session_expired')};
  }
  if (err.status === 422) {
    return {code: 'page-outdated', action: 'reload', text: t('page_outdated')};
  }
  return {code: 'engine-unavailable', action: 'retry',
    text: t('unreachable')};
}

// The lobby's words for what the browser said about the camera and microphone ({camera, mic} from acquire()).
const KIND = {denied: 'denied', missing: 'missing', 'in-use': 'in_use', policy: 'policy'};
const HOW = () => ` ${t('how_to_allow')}`;

/** The words for a device refused during the call (device 'camera' | 'microphone', problem as acquire() names it):
 * the call goes on as it was. */
export function deviceProblem(device, problem) {
  const words = t(`${device === 'camera' ? 'camera' : 'mic'}_${KIND[problem] || 'missing'}`);
  const goesOn = t(device === 'camera' ? 'device_voice_goes_on' : 'device_keep_typing');
  return `${words} ${goesOn}` + (problem === 'denied' ? ` ${t('device_how_to_allow')}` : '');
}

/** {text, code, device} for the lobby's status line and the host's `error` event; null when all is well. */
export function mediaProblem({camera, mic}, {voice, typing}) {
  if (mic !== 'ok') {
    const both = camera !== 'ok' && camera !== 'off' && camera === mic;
    const text = (both && (mic === 'denied' || mic === 'missing') ? t(`both_${mic}`) : t(`mic_${KIND[mic] || 'missing'}`)) +
      (typing ? ` ${t('can_type')}` : '') + (mic === 'denied' ? HOW() : '');
    return {text, code: mic === 'denied' || mic === 'policy' ? 'permission-denied' : 'no-device', device: 'microphone'};
  }
  if (camera !== 'ok' && camera !== 'off') {
    const text = t(`camera_${KIND[camera] || 'missing'}`) + (voice ? ` ${t('can_voice')}` : typing ? ` ${t('can_type')}` : '') +
      (camera === 'denied' ? HOW() : '');
    return {text, code: camera === 'denied' || camera === 'policy' ? 'permission-denied' : 'no-device', device: 'camera'};
  }
  return null;
}

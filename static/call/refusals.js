// Each refusal in its own words, with what the visitor can do about it, and the `error` code the host page gets.
// Never the server's or the engine's own text: that is for the operator's logs, not for the visitor.

export function clock(at) {
  return new Date(at).toLocaleTimeString([], {hour: '2-digit', minute: '2-digit'});
}

/** A failed create (an Error with status, kind, retryAfter) as {code, text, action, retryAt}. */
export function refusal(err, now = Date.now()) {
  const kind = err.kind || '';
  const retryAt = now + Math.max(1, err.retryAfter || 0) * 1000;
  if (kind === 'busy' || kind === 'engine-concurrency' || (err.status === 503 && kind === 'unavailable')) {
    return {code: 'busy', retryAt, action: 'auto',
      text: 'Everyone is busy right now. We will try again for you in a moment; you can stay on this page.'};
  }
  if (kind === 'rate-limited') {
    return {code: 'rate-limited', retryAt, action: 'none',
      text: `You have started several conversations in a short time. Please try again at ${clock(retryAt)}.`};
  }
  if (kind === 'budget-spent') {
    return {code: 'budget-spent', retryAt, action: 'none',
      text: `Conversations are not available for the rest of today. Please come back after ${clock(retryAt)}.`};
  }
  if (kind === 'origin-not-allowed') {
    return {code: 'origin-not-allowed', action: 'none',
      text: 'Conversations are not enabled on this website.'};
  }
  if (err.status === 401 || kind === 'session-invalid') {
    return {code: 'session-expired', action: 'reload', text: 'This page has been open a long time. Reloading it…'};
  }
  if (err.status === 422) {
    return {code: 'page-outdated', action: 'reload', text: 'This page is out of date. Reloading it…'};
  }
  return {code: 'engine-unavailable', action: 'retry',
    text: 'The assistant cannot be reached right now. Please try again in a minute.'};
}

// The lobby's words for what the browser said about the camera and microphone ({camera, mic} from acquire()).
const CAMERA = {
  denied: 'Your camera is blocked for this site.',
  missing: 'No camera was found.',
  'in-use': 'Your camera is in use by another app.',
  policy: 'This website does not let the conversation use your camera.',
};
const MIC = {
  denied: 'Your microphone is blocked for this site.',
  missing: 'No microphone was found.',
  'in-use': 'Your microphone is in use by another app.',
  policy: 'This website does not let the conversation use your microphone.',
};
const HOW = ' To allow it, click the camera or lock icon in the address bar, choose "Allow", then press Try again.';

/** The words for a device refused during the call (device 'camera' | 'microphone', problem as acquire() names it):
 * the call goes on as it was. */
export function deviceProblem(device, problem) {
  const words = (device === 'camera' ? CAMERA : MIC)[problem] || (device === 'camera' ? CAMERA : MIC).missing;
  const goesOn = device === 'camera' ? ' The conversation goes on with your voice.' : ' You can keep typing.';
  const how = problem === 'denied'
    ? ' To allow it, click the camera or lock icon in the address bar, choose "Allow", then press the button again.' : '';
  return words + goesOn + how;
}

/** {text, code, device} for the lobby's status line and the host's `error` event; null when all is well. */
export function mediaProblem({camera, mic}, {voice, typing}) {
  if (mic !== 'ok') {
    const both = camera !== 'ok' && camera !== 'off' && camera === mic;
    const text = (both ? (mic === 'denied' ? 'Your camera and microphone are blocked for this site.'
      : mic === 'missing' ? 'No camera or microphone was found.' : MIC[mic]) : MIC[mic] || MIC.missing) +
      (typing ? ' You can type instead.' : '') + (mic === 'denied' ? HOW : '');
    return {text, code: mic === 'denied' || mic === 'policy' ? 'permission-denied' : 'no-device', device: 'microphone'};
  }
  if (camera !== 'ok' && camera !== 'off') {
    const text = CAMERA[camera] + (voice ? ' You can talk with voice only.' : typing ? ' You can type instead.' : '') +
      (camera === 'denied' ? HOW : '');
    return {text, code: camera === 'denied' || camera === 'policy' ? 'permission-denied' : 'no-device', device: 'camera'};
  }
  return null;
}

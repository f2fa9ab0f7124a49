// The waiting line (docs/queue.md): every slot was busy, so the create answered 202 with a place in line.
// This module shows the place and a rounded estimate, offers Leave, and on the visitor's turn confirms they are
// there (at once when the tab is visible; otherwise a "your turn" prompt, a notification and a chime if the
// browser allows them). Only that confirmation creates the conversation: nobody is billed for waiting.

import {locale, number, t} from 'cvi/i18n.js';

// A name inside a sentence keeps its own direction (a Latin name in Arabic text): what <bdi> does, as text.
const isolate = (name) => `\u2068${name}\u2069`;

/** A wait in words, never a raw number of seconds: "less than a minute", "about 2 minutes"... */
export function aboutWait(seconds) {
  const s = Math.max(0, Number(seconds) || 0);
  if (s < 45) return t('line_wait_soon');
  if (s < 90) return t('line_wait_minute');
  if (s >= 90 * 60) return t('line_wait_long');
  if (s >= 55 * 60) return t('line_wait_hour');
  // Intl words the unit with the language's plural forms (Arabic has six): "2 minutes", "دقيقتان"...
  const minutes = new Intl.NumberFormat(locale(), {style: 'unit', unit: 'minute', unitDisplay: 'long'});
  return t('line_wait_about', {duration: minutes.format(Math.round(s / 60))});
}

// Why a place ended without a conversation, in the visitor's words (the 410's type: queue-<reason>).
const left = () => ({
  expired: t('line_expired'),
  'turn-missed': t('line_turn_missed'),
  gone: t('line_gone'),
  failed: t('start_failed'),
  left: t('line_left'),
});

/** Why a place ended ({code, text}), from the 410 problem type (or the place's reason). */
export function leftLine(kind) {
  const reason = String(kind || '').replace(/^queue-/, '').replace('_', '-');
  const texts = left();
  return {code: reason === 'failed' ? 'engine-unavailable' : 'queue-' + reason, text: texts[reason] || texts.gone};
}

function where(position, wait) {
  const place = position <= 1 ? t('line_next') : t('line_position', {n: number(position)});
  return `${place} ${t('line_wait', {wait})}`;
}

function chime() {
  try {
    const audio = new AudioContext();
    const tone = audio.createOscillator();
    const gain = audio.createGain();
    tone.frequency.value = 660;
    gain.gain.setValueAtTime(0.15, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.6);
    tone.connect(gain).connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.6);
    tone.onended = () => audio.close();
  } catch { /* no sound: the prompt is on the page */ }
}

function notify(name) {
  try {
    if (window.Notification?.permission === 'granted') {
      new Notification(t('line_notify_title'), {body: t('line_notify_text', {name}), tag: 'cvi-line'});
    }
  } catch { /* notifications are a bonus */ }
}

/**
 * Wait in line until it is the visitor's turn and they are there: resolves with the create's answer (201),
 * rejects with an Error {status, kind} when the place ends without one (left, expired, turn missed...).
 * ui: {widget, name, heartbeatMs, show({text, primary, secondary}, detail), connecting(text), announce(text),
 *     leave()}.
 */
export class Line {
  constructor(place, ui) {
    this.place = place;
    this.ui = ui;
    this.base = `/api/widgets/${encodeURIComponent(ui.widget)}/queue/${encodeURIComponent(place.queue_id)}`;
    this.closed = false;
    this.joining = false;
    this.prompted = false;
    // The stream and the heartbeats answer on their own: a beat's answer read before an offer can arrive after
    // the stream told it. Each message is numbered when asked (a beat) or heard (the stream); one asked before
    // the newest told is stale (the stream says any change again) and is dropped, or it would take the turn back.
    this.asked = 0;
    this.told = 0;
    this.onVisible = () => {
      if (document.visibilityState === 'visible' && this.place.state === 'offered') this.join();
    };
  }

  wait() {
    return new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
      this.update(this.place);
      this.events = new EventSource(`${this.base}?ticket=${encodeURIComponent(this.place.ticket)}`);
      this.events.addEventListener('place', (e) => {
        this.told = ++this.asked;
        try { this.update(JSON.parse(e.data)); } catch { /* a broken event: the next one says it again */ }
      });
      document.addEventListener('visibilitychange', this.onVisible);
      // The open stream is the visitor's presence; heartbeats too, for a proxy that holds streams back.
      this.beat = setInterval(() => this.heartbeat(), this.ui.heartbeatMs || 10000);
    });
  }

  async heartbeat() {
    if (this.joining || this.closed) return;
    const asked = ++this.asked;
    try {
      const res = await fetch(`${this.base}/heartbeat`, {method: 'POST',
        headers: {Authorization: `Bearer ${this.place.ticket}`}});
      const data = await res.json().catch(() => ({}));
      if (res.status === 200 && asked > this.told) {
        this.told = asked;
        this.update(data);
      } else if (res.status === 410) {  // a place that ended stays ended, however late that is told
        this.update({state: 'left', reason: String(data.type || '').split('/').pop()
          .replace(/^queue-/, '').replace('-', '_')});
      }
    } catch { /* the next beat, or the stream, says it */ }
  }

  update(doc) {
    // While the join is under way its answer decides (the stream may say "served" before the 201 arrives).
    if (this.closed || (this.joining && doc.state !== 'waiting')) return;
    const previous = this.place;
    this.place = {...previous, ...doc, ticket: previous.ticket};
    if (doc.state === 'left') return this.fail(410, `queue-${doc.reason}`);
    if (doc.state === 'offered') return this.turn();
    if (doc.state !== 'waiting') return;
    this.prompted = false;  // back in line (the engine was full, a claim lapsed): the next turn is prompted again
    const wait = aboutWait(doc.estimated_wait_s);
    const said = `${doc.position}|${wait}`;
    if (said === this.said) return;   // the host hears a change, not every heartbeat
    this.said = said;
    this.ui.show({
      text: `${t('line_busy', {name: isolate(this.ui.name)})} ${where(doc.position, wait)}`,
      secondary: {label: t('line_leave'), run: () => this.ui.leave()},
    }, {position: doc.position, estimated_wait_s: doc.estimated_wait_s});
    if (doc.position !== previous.position || !this.shown) this.ui.announce(where(doc.position, wait));
    this.shown = true;
  }

  turn() {
    this.said = '';
    if (document.visibilityState === 'visible') return this.join();
    if (this.prompted) return;
    this.prompted = true;
    this.ui.show({
      text: t('line_turn', {name: isolate(this.ui.name), n: number(this.place.turn_window_s || 30)}),
      primary: {label: t('line_join_now'), run: () => this.join()},
      secondary: {label: t('line_leave'), run: () => this.ui.leave()},
    }, {position: 0, estimated_wait_s: 0});
    this.ui.announce(t('line_turn_announce'));
    notify(isolate(this.ui.name));
    chime();
  }

  async join() {
    if (this.joining || this.closed) return;
    this.joining = true;
    this.ui.connecting(t('line_connecting'));
    try {
      const res = await fetch(`${this.base}/join`, {method: 'POST',
        headers: {'Content-Type': 'application/json', Authorization: `Bearer ${this.place.ticket}`}, body: '{}'});
      const data = await res.json().catch(() => ({}));
      if (this.closed) return;
      const kind = data.type ? String(data.type).split('/').pop() : '';
      if (res.status === 201) return this.done(data);
      if (res.status === 202) {  // the engine is full: back at the head of the line
        this.told = ++this.asked;
        this.said = '';
        return this.update(data);
      }
      if (res.status === 409) return;  // not yet (the stream says when)
      return this.fail(res.status, kind, Number(res.headers.get('Retry-After')) || 0);
    } catch {
      // the network blinked: the stream reconnects and offers the turn again while it lasts
    } finally {
      this.joining = false;
    }
  }

  done(conversation) {
    this.close(false);
    this.resolve(conversation);
  }

  fail(status, kind, retryAfter = 0) {
    this.close(false);
    this.reject(Object.assign(new Error(`HTTP ${status}`), {status, kind, retryAfter, line: leftLine(kind)}));
  }

  /** Stop waiting; ``leave`` also gives the place up at once (Leave, the tab closing). */
  close(leave = true) {
    if (this.closed) return;
    this.closed = true;
    this.events?.close();
    clearInterval(this.beat);
    document.removeEventListener('visibilitychange', this.onVisible);
    if (!leave) return;
    const body = JSON.stringify({ticket: this.place.ticket});
    if (!navigator.sendBeacon?.(`${this.base}/leave`, new Blob([body], {type: 'text/plain'}))) {
      fetch(`${this.base}/leave`, {method: 'POST', keepalive: true, headers: {'Content-Type': 'application/json'}, body})
        .catch(() => {});
    }
  }
}

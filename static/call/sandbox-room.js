// The sandbox room adapter: the interface of daily-room.js over the sandbox engine's room WebSocket
// (see docs/sandbox.md). The replica's video is drawn in this page (replica-face.js), so a call needs no network.
import {createFace} from 'cvi/replica-face.js';

const REPLICA = /tavus-replica/;

class Emitter {
  constructor() { this.handlers = {}; }
  on(name, fn) { (this.handlers[name] ||= []).push(fn); return this; }
  off(name, fn) { this.handlers[name] = (this.handlers[name] || []).filter((f) => f !== fn); return this; }
  emit(name, event = {}) {
    for (const fn of [...(this.handlers[name] || [])]) {
      try { fn({action: name, ...event}); } catch (err) { console.error(err); }
    }
  }
}

function track(t, on) {
  return {state: t && on ? 'playable' : 'off', persistentTrack: t || undefined, track: t && on ? t : undefined};
}

export class SandboxRoom extends Emitter {
  constructor({config, conversation, media}) {
    super();
    this.config = config;
    this.conversation = conversation;
    this.media = media;
    this.people = new Map();
    this.localId = null;
    this.ws = null;
    this.face = null;
    this.state = 'new';
    this.good = true;   // the connection's quality until measured otherwise
  }

  isReplica(p) { return REPLICA.test(p?.user_id || ''); }

  replicaPresent() { return [...this.people.values()].some((p) => !p.local && this.isReplica(p)); }

  participants() {
    const out = {};
    for (const p of this.people.values()) out[p.local ? 'local' : p.session_id] = p;
    return out;
  }

  _participant(raw) {
    const p = {...raw};
    if (p.local) {
      const audio = this.media?.getAudioTracks()[0];
      const video = this.media?.getVideoTracks()[0];
      p.tracks = {audio: track(audio, p.audio && audio?.enabled !== false), video: track(video, p.video && !!video)};
    } else if (this.isReplica(p)) {
      if (p.video && !this.config.audio_only) {
        this.face ||= createFace({greenscreen: this.config.greenscreen});
        p.tracks = {audio: track(null, false), video: track(this.face.track, true)};
      } else {
        p.tracks = {audio: track(null, false), video: track(null, false)};
      }
    } else {
      p.tracks = {audio: track(null, false), video: track(null, false)};
    }
    this.people.set(p.session_id, p);
    return p;
  }

  join({url, token, userName}) {
    const ws = new URL(`${url.replace(/\/$/, '')}/ws`);
    ws.protocol = ws.protocol === 'https:' ? 'wss:' : 'ws:';
    if (token) ws.searchParams.set('t', token);
    if (userName) ws.searchParams.set('name', userName);
    this.wsUrl = ws;
    this.state = 'joining';
    this.emit('joining-meeting');
    return this._connect().then((participants) => {
      this.emit('joined-meeting', {participants});
      return participants;
    });
  }

  _connect() {
    return new Promise((resolve, reject) => {
      const socket = this.ws = new WebSocket(this.wsUrl);
      socket.onmessage = (e) => {
        let m;
        try { m = JSON.parse(e.data); } catch { return; }
        if (m.action === 'joined') {
          this.localId = m.participant_id;
          this.people.clear();
          for (const raw of m.participants || []) this._participant(raw);
          this.state = 'joined';
          // What the visitor joined with: no camera (voice only) or neither (typing).
          const audio = !!this.media?.getAudioTracks().some((t) => t.enabled);
          const video = !!this.media?.getVideoTracks().length;
          if (!audio || !video) this._send({action: 'update-participant', audio, video});
          resolve(this.participants());
          this._measure();
        } else if (m.action === 'pong') {
          this._pong(m.id);
        } else if (m.action === 'error' && this.state !== 'joined') {
          reject(Object.assign(new Error(m.detail || m.errorMsg), {code: m.errorMsg}));
        } else {
          this._handle(m);
        }
      };
      socket.onclose = () => {
        if (socket !== this.ws) return;
        if (this.state === 'joined') this._reconnect();
        else reject(Object.assign(new Error('could not reach the room'), {code: 'connection-error'}));
      };
    });
  }

  // The socket dropped (a network change, a sleeping laptop): the same room, the same token, within the grace.
  async _reconnect() {
    this.state = 'reconnecting';
    this.emit('reconnecting');
    const until = Date.now() + (this.config.reconnect_ms || 20000);
    while (this.state === 'reconnecting' && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 1000));
      if (this.state !== 'reconnecting') return;
      try {
        await this._connect();
        this.emit('reconnected');
        return;
      } catch (err) {
        if (err.code === 'no-room' || err.code === 'exp-token' || err.code === 'not-allowed') break;
      }
    }
    if (this.state === 'reconnecting' || this.state === 'joining') {
      this.state = 'joined';
      this._left('connection-lost');
    }
  }

  _handle(m) {
    switch (m.action) {
      case 'participant-joined':
      case 'participant-updated': {
        const p = this._participant(m.participant);
        this.emit(m.action, {participant: p});
        break;
      }
      case 'participant-left': {
        const p = this.people.get(m.participant.session_id) || m.participant;
        this.people.delete(m.participant.session_id);
        this.emit('participant-left', {participant: p});
        break;
      }
      case 'app-message':
        this._speaking(m.data);
        this.emit('app-message', {data: m.data, fromId: m.fromId});
        break;
      case 'left-meeting':
        this._left(m.reason);
        break;
      case 'error':
        this.emit('error', {errorMsg: m.errorMsg, detail: m.detail});
        break;
      default:
        this.emit(m.action, m);
    }
  }

  // The connection's quality, as daily-js reports it: a ping every 2 s; two answers in a row missing or slower
  // than 1 s make it 'low', two quick ones 'good' again (network-quality-change {threshold, quality}).
  _measure() {
    clearInterval(this.pinger);
    this.pings = {};
    this.streak = 0;
    this.pinger = setInterval(() => {
      if (this.state !== 'joined') return;   // reconnecting says so itself
      const now = Date.now();
      if (Object.values(this.pings).some((t) => now - t > 1000)) {
        this.pings = {};
        this._quality(false);
      }
      this.pingId = (this.pingId || 0) + 1;
      this.pings[this.pingId] = now;
      this._send({action: 'ping', id: this.pingId});
    }, 2000);
  }

  _pong(id) {
    const sent = this.pings?.[id];
    if (!sent) return;
    delete this.pings[id];
    this._quality(Date.now() - sent <= 1000);
  }

  _quality(good) {
    this.streak = good === this.good ? 0 : this.streak + 1;
    if (this.streak < 2) return;
    this.streak = 0;
    this.good = good;
    this.emit('network-quality-change', {threshold: good ? 'good' : 'low', quality: good ? 100 : 20});
  }

  _speaking(data) {
    const type = data?.event_type || '';
    if (this.face && /replica/.test(type + (data?.properties?.role || '')) && /_speaking$/.test(type)) {
      this.face.speaking(/started/.test(type));
    }
  }

  _left(reason) {
    if (this.state === 'left') return;
    this.state = 'left';
    clearInterval(this.pinger);
    this.face?.stop();
    this.emit('left-meeting', {reason});
  }

  _send(message) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  sendAppMessage(data) { this._send({action: 'app-message', data}); }

  say(text) { this._send({action: 'say', text}); }

  setLocalAudio(on) {
    this.media?.getAudioTracks().forEach((t) => { t.enabled = on; });
    this._send({action: 'update-participant', audio: on});
  }

  setLocalVideo(on) {
    this.media?.getVideoTracks().forEach((t) => { t.enabled = on; });
    this._send({action: 'update-participant', video: on});
  }

  // A device the visitor turned on during the call (voice only: the camera; typing: the microphone).
  async addLocalTrack(track) {
    this.media ||= new MediaStream();
    this.media.addTrack(track);
    this._send({action: 'update-participant', [track.kind]: true});
  }

  startRecording() { this._send({action: 'start-recording'}); }

  stopRecording() { this._send({action: 'stop-recording'}); }

  async leave() {
    if (this.state === 'joined') this._send({action: 'leave'});
    this.state = 'left';
    clearInterval(this.pinger);
    this.ws && (this.ws.onclose = null);
    this.face?.stop();
    this.ws?.close();
  }

  destroy() { return this.leave(); }
}

export function createRoom(options) {
  return new SandboxRoom(options);
}

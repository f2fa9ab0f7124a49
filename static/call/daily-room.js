// The Daily room adapter: daily-js (served by this server, never from a CDN) behind the room interface that
// sandbox-room.js also implements. ui = "prebuilt": Daily Prebuilt in an iframe (createFrame), themed;
// ui = "custom": a call object, with the camera and microphone tracks this page already opened.
import Daily from 'daily-js';

const REPLICA = /tavus-replica/;

// Daily Prebuilt's UI languages; "multilingual" and the rest follow the visitor's browser ("user").
const LANGS = {
  english: 'en', spanish: 'es', french: 'fr', german: 'de', italian: 'it', portuguese: 'pt', dutch: 'nl',
  danish: 'da', finnish: 'fi', japanese: 'jp', norwegian: 'no', polish: 'pl', russian: 'ru', swedish: 'sv',
  turkish: 'tr', georgian: 'ka',
};

export function dailyLang(language) {
  return LANGS[language] || 'user';
}

export function themeColors(theme) {
  return {
    accent: theme.accent,
    accentText: theme.accent_text,
    background: theme.background,
    backgroundAccent: theme.background,
    baseText: theme.base_text,
    border: theme.accent,
    mainAreaBg: theme.background,
    mainAreaBgAccent: theme.background,
    mainAreaText: theme.base_text,
    supportiveText: theme.base_text,
  };
}

export function frameOptions(config) {
  return {
    iframeStyle: {width: '100%', height: '100%', border: '0', display: 'block'},
    showLeaveButton: true,
    showFullscreenButton: true,
    showLocalVideo: !config.audio_only,
    showParticipantsBar: false,
    activeSpeakerMode: true,
    lang: config.daily_lang || dailyLang(config.language),
    theme: {colors: themeColors(config.theme)},
  };
}

export class DailyRoom {
  constructor({config, conversation, container, media}) {
    this.config = config;
    this.conversation = conversation;
    this.prebuilt = config.ui === 'prebuilt';
    if (this.prebuilt) {
      this.call = Daily.createFrame(container, frameOptions(config));
    } else {
      // The lobby's tracks: none for a visitor who types, no camera for voice only.
      this.call = Daily.createCallObject({
        audioSource: media?.getAudioTracks()[0] || false,
        videoSource: media?.getVideoTracks()[0] || false,
        subscribeToTracksAutomatically: true,
      });
    }
    // daily-js reconnects by itself; its network-connection event becomes the room interface's
    // reconnecting / reconnected.
    this.own = {};
    this.call.on('network-connection', (e) => {
      const name = e?.event === 'interrupted' ? 'reconnecting' : e?.event === 'connected' ? 'reconnected' : '';
      if (name) (this.own[name] || []).forEach((fn) => fn(e));
    });
  }

  on(name, fn) {
    if (name === 'reconnecting' || name === 'reconnected') (this.own[name] ||= []).push(fn);
    else this.call.on(name, fn);
    return this;
  }

  off(name, fn) {
    if (this.own[name]) this.own[name] = this.own[name].filter((f) => f !== fn);
    else this.call.off(name, fn);
    return this;
  }

  isReplica(p) { return REPLICA.test(p?.user_id || '') || (!p?.local && !!p?.user_name?.match(/replica/i)); }

  replicaPresent() { return Object.values(this.call.participants()).some((p) => !p.local && this.isReplica(p)); }

  participants() { return this.call.participants(); }

  join({url, token, userName}) {
    const options = {url, userName};
    if (token) options.token = token;
    return this.call.join(options);
  }

  sendAppMessage(data) { this.call.sendAppMessage(data, '*'); }

  say(text) {
    this.sendAppMessage({
      message_type: 'conversation', event_type: 'conversation.respond',
      conversation_id: this.conversation.conversation_id, properties: {text},
    });
  }

  setLocalAudio(on) { this.call.setLocalAudio(on); }

  setLocalVideo(on) { this.call.setLocalVideo(on); }

  // A device the visitor turned on during the call: the call object takes the track this page opened.
  async addLocalTrack(track) {
    const audio = track.kind === 'audio';
    await this.call.setInputDevicesAsync(audio ? {audioSource: track} : {videoSource: track});
    if (audio) this.call.setLocalAudio(true);
    else this.call.setLocalVideo(true);
  }

  startRecording() { this.call.startRecording(); }

  stopRecording() { this.call.stopRecording(); }

  async leave() {
    try { await this.call.leave(); } finally { await this.call.destroy(); }
  }

  destroy() { return this.leave(); }
}

export function createRoom(options) {
  return new DailyRoom(options);
}

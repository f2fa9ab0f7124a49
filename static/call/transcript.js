// What was said in the call: kept while it lasts, shown in the transcript panel, left on the ended screen and
// offered as a plain-text download.
import {clock, t} from 'cvi/i18n.js';

export class Transcript {
  constructor(name) {
    this.name = name;   // () => the replica's display name
    this.lines = [];
    this.lists = [];
  }

  who(role) {
    return role === 'user' ? t('you') : this.name();
  }

  /** Renders into an <ol> now and on every later line. */
  attach(list) {
    this.lists.push(list);
    list.replaceChildren(...this.lines.map((line) => this.item(line)));
  }

  item({role, text}) {
    const li = document.createElement('li');
    li.className = role === 'user' ? 'you' : 'them';
    const who = document.createElement('b');
    who.append(Object.assign(document.createElement('bdi'), {textContent: this.who(role)}), ': ');
    // The words keep their own direction (English said in an Arabic page, or the reverse).
    li.append(who, Object.assign(document.createElement('bdi'), {textContent: text}));
    return li;
  }

  add(role, text) {
    if (!text) return;
    const line = {role, text, at: new Date()};
    this.lines.push(line);
    for (const list of this.lists) {
      const stick = list.scrollTop + list.clientHeight >= list.scrollHeight - 8;
      list.append(this.item(line));
      if (stick) list.scrollTop = list.scrollHeight;
    }
  }

  text() {
    return this.lines.map((l) => `[${clock(l.at)}] ${this.who(l.role)}: ${l.text}`).join('\n') + '\n';
  }

  clear() {
    this.lines = [];
    this.lists.forEach((list) => list.replaceChildren());
  }
}

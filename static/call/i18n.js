// The visitor's language: every string the widget shows comes from a catalog (static/i18n/<code>.json).
// English, with the widget's own [texts], is inlined in the page; another catalog is fetched when it is chosen.
// Elements say what they show: data-t (text), data-t-label (aria-label, and title when it has one),
// data-t-title (title), data-t-ph (placeholder).
const boot = JSON.parse(document.getElementById('cvi-boot').textContent);
const english = boot.strings;
const own = boot.config.texts || {};
// The engine's language names, as the widget's `language` and the page's override give them.
const NAMES = {english: 'en', spanish: 'es', french: 'fr', german: 'de', portuguese: 'pt', italian: 'it',
  japanese: 'ja', arabic: 'ar', hebrew: 'he'};
const RTL = ['ar', 'he', 'fa', 'ur'];
// Daily Prebuilt's UI languages; the others follow the browser there.
const DAILY = {en: 'en', es: 'es', fr: 'fr', de: 'de', it: 'it', pt: 'pt', ja: 'jp'};

let strings = english;
let lang = 'en';
const vars = {};

/** The string `key` in the visitor's language, with {placeholders} filled from `values` (then setVars's). */
export function t(key, values = {}) {
  const text = strings[key] ?? english[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (m, k) => String(values[k] ?? vars[k] ?? m));
}

export const locale = () => lang;
export const dailyLang = () => DAILY[lang] || 'user';
export const number = (n) => new Intl.NumberFormat(lang).format(n);
export const time = (at) => new Intl.DateTimeFormat(lang, {hour: '2-digit', minute: '2-digit'}).format(at);
export const clock = (at) => new Intl.DateTimeFormat(lang, {hour: '2-digit', minute: '2-digit', second: '2-digit'}).format(at);

export function setVars(values) {
  Object.assign(vars, values);
}

/** ui_language, or (auto) the conversation's language when a catalog has it, else the browser's first we have. */
export function choose(uiLanguage, language) {
  const have = Object.keys(boot.catalogs);
  if (uiLanguage && uiLanguage !== 'auto' && have.includes(uiLanguage)) return uiLanguage;
  const spoken = NAMES[language];
  if (spoken && have.includes(spoken)) return spoken;
  for (const tag of navigator.languages || [navigator.language || '']) {
    const code = tag.toLowerCase().split('-')[0];
    if (have.includes(code)) return code;
  }
  return 'en';
}

/** Switches the page to `code` (fetching its catalog once) and redraws every marked element. */
export async function use(code) {
  if (code !== 'en' && boot.catalogs[code]) {
    try {
      const res = await fetch(boot.catalogs[code]);
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      strings = {...english, ...(await res.json()), ...own};
      lang = code;
    } catch (err) {
      console.warn(`cvi: the ${code} catalog did not load; staying in English`, err);
      strings = english;
      lang = 'en';
    }
  } else {
    strings = english;
    lang = 'en';
  }
  document.documentElement.lang = lang;
  document.documentElement.dir = RTL.includes(lang) ? 'rtl' : 'ltr';
  apply();
  return lang;
}

let fetched;
/** The English words the page left out (i18n.py DEFERRED), fetched once, before a screen that needs them. */
export const more = () => fetched ||= fetch(boot.catalogs.en).then((r) => r.json()).then((all) => {
  for (const k in all) english[k] ??= own[k] ?? all[k];
}).catch(() => {});

export function apply(root = document) {
  for (const el of root.querySelectorAll('[data-t]')) el.textContent = t(el.dataset.t);
  for (const el of root.querySelectorAll('[data-t-label]')) {
    el.setAttribute('aria-label', t(el.dataset.tLabel));
    if (el.hasAttribute('title') && !el.dataset.tTitle) el.title = t(el.dataset.tLabel);
  }
  for (const el of root.querySelectorAll('[data-t-title]')) el.title = t(el.dataset.tTitle);
  for (const el of root.querySelectorAll('[data-t-ph]')) el.placeholder = t(el.dataset.tPh);
}

/* widget-server loader: <script async src=".../embed.js" data-widget="ID"></script>. See docs/embedding.md. */
(function (w, d) {
  var NS = 'cvi', me = d.currentScript, prev = w.cvi, api, base, widgets = {}, order = [], subs = {};
  try {
    base = new URL(me.src).origin;
  } catch (e) { return; }
  if (prev && prev.v) { // a second copy of the loader: hand its own tag to the first one
    safe(function () { ownTag(prev); })();
    return;
  }

  var CSS = ':host{all:initial}' +
    '.b{position:fixed;z-index:2147483000;bottom:20px;right:20px;height:52px;padding:0 20px;border:0;border-radius:26px;' +
    'background:var(--a);color:var(--t);font:600 15px/1 system-ui,sans-serif;cursor:pointer;box-shadow:0 4px 18px #0005}' +
    '.b:focus-visible,.x:focus-visible{outline:3px solid var(--t);outline-offset:-6px}' +
    '.p{position:fixed;z-index:2147483001;bottom:84px;right:20px;width:min(400px,calc(100vw - 40px));height:min(640px,calc(100vh - 104px));' +
    'display:flex;flex-direction:column;border-radius:14px;overflow:hidden;background:var(--g);box-shadow:0 8px 40px #0006}' +
    ':host(.L) .b,:host(.L) .p{left:20px;right:auto}:host(.T) .b{top:20px;bottom:auto}:host(.T) .p{top:84px;bottom:auto}' +
    '.h{display:flex;align-items:center;height:40px;padding:0 4px 0 14px;background:var(--a);color:var(--t);font:600 14px system-ui,sans-serif}' +
    '.h span{flex:1}.x{width:36px;height:36px;border:0;background:none;color:inherit;font-size:22px;cursor:pointer}' +
    'iframe{flex:1;width:100%;border:0;display:block;background:var(--g)}[hidden]{display:none!important}' +
    ':host(.I) .p{position:static;width:100%;height:100%;min-height:420px;border-radius:inherit;box-shadow:none}' +
    '@media (max-width:480px){:host(.W) .p{inset:0;width:auto;height:auto;border-radius:0}}' +
    '@media (prefers-reduced-motion:no-preference){.b{transition:transform .15s}.b:hover{transform:scale(1.05)}}';

  function safe(f) { // nothing escapes into the host page
    return function () { try { return f.apply(this, arguments); } catch (e) { if (w.console) console.warn('cvi:', e); } };
  }

  function emit(wd, name, data) {
    var detail = {}, k, fns = (subs[name] || []).slice();
    for (k in data) detail[k] = data[k];
    detail.widget = wd.id;
    fns.forEach(function (f) { safe(f)(detail); });
    safe(function () { wd.host.dispatchEvent(new CustomEvent(NS + ':' + name, {bubbles: true, composed: true, detail: detail})); })();
  }

  function post(wd, cmd, data) {
    if (!wd.ready) return wd.q.push([cmd, data]);
    wd.frame.contentWindow.postMessage({ns: NS, cmd: cmd, data: data || {}}, base);
  }

  function show(wd, open) {
    if (wd.inline || !wd.ready || wd.open === open) return;
    wd.open = open;
    wd.panel.hidden = !open;
    wd.bubble.setAttribute('aria-expanded', open);
    if (open) wd.frame.focus(); else wd.bubble.focus();
    if (!open) post(wd, 'close');
    emit(wd, open ? 'open' : 'close', {});
  }

  function init(o) {
    o = o || {};
    var id = o.widget, wd, host, root, sheet, t;
    if (!id || widgets[id]) return;
    wd = widgets[id] = {id: id, q: [], inline: o.mode == 'inline', o: o};
    order.push(id);
    host = wd.host = d.createElement('div');
    host.setAttribute('data-cvi-widget', id);
    root = host.attachShadow({mode: 'open'});
    sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    root.adoptedStyleSheets = [sheet];
    root.innerHTML = '<button class="b" type="button" aria-expanded="false" hidden></button>' +
      '<div class="p" role="dialog"' + (wd.inline ? '' : ' hidden') + '><div class="h"><span></span>' +
      '<button class="x" type="button" aria-label="Close">\u00d7</button></div><iframe title="Video conversation"' +
      ' allow="camera; microphone; autoplay; display-capture; fullscreen"></iframe></div>';
    wd.bubble = root.querySelector('.b');
    wd.panel = root.querySelector('.p');
    wd.frame = root.querySelector('iframe');
    root.querySelector('.h').hidden = wd.inline;
    wd.bubble.onclick = safe(function () { show(wd, !wd.open); });
    root.querySelector('.x').onclick = safe(function () { show(wd, false); });
    root.addEventListener('keydown', safe(function (e) { if (e.key == 'Escape') show(wd, false); }));
    wd.frame.src = base + '/w/' + encodeURIComponent(id) + '?origin=' + encodeURIComponent(location.origin);
    place(function () {
      t = wd.inline && o.target && d.querySelector(o.target);
      (t || d.body).appendChild(host);
    });
    wd.timer = setTimeout(safe(function () {
      if (!wd.ready) emit(wd, 'error', {code: 'unavailable', message: 'the widget did not load on this page'});
    }), 15000);
  }

  function onReady(wd, data) {
    var th = data.theme || {}, pos = wd.o.position || th.launcher_position || '', s = wd.host.style, root;
    clearTimeout(wd.timer);
    if (wd.ready) return;
    wd.ready = 1;
    s.setProperty('--a', th.accent || '#4f46e5');
    s.setProperty('--t', th.accent_text || '#fff');
    s.setProperty('--g', th.background || '#111');
    root = wd.panel.parentNode;
    wd.host.className = (wd.inline ? 'I' : 'W') + (/left/.test(pos) ? ' L' : '') + (/top/.test(pos) ? ' T' : '');
    wd.bubble.textContent = th.launcher_label || 'Talk to us';
    wd.panel.setAttribute('aria-label', wd.bubble.textContent);
    root.querySelector('.h span').textContent = wd.bubble.textContent;
    wd.bubble.hidden = wd.inline;
    post(wd, 'config', {
      conversational_context: wd.o.context, custom_greeting: wd.o.greeting,
      language: wd.o.language, user_name: wd.o.userName || wd.o.user_name
    });
    wd.q.splice(0).forEach(function (c) { post(wd, c[0], c[1]); });
    emit(wd, 'ready', {});
    if (wd.want) show(wd, true);
  }

  function place(f) {
    d.readyState == 'loading' ? d.addEventListener('DOMContentLoaded', safe(f)) : f();
  }

  function pick(o) {
    return widgets[(o && o.widget) || order[0]];
  }

  api = safe(function (cmd, a, b) {
    var wd;
    if (cmd == 'init') return init(a);
    if (cmd == 'on') return typeof b == 'function' && (subs[a] = subs[a] || []).push(b);
    if (cmd == 'off') return subs[a] && (subs[a] = subs[a].filter(function (f) { return f !== b; }));
    wd = cmd == 'send' ? pick(b) : pick(a);
    if (!wd) return;
    if (cmd == 'open' || cmd == 'start') {
      wd.ready ? show(wd, true) : wd.want = 1;
      if (cmd == 'start') post(wd, 'start');
    } else if (cmd == 'close') {
      wd.ready ? show(wd, false) : wd.want = 0;
    } else if (cmd == 'end') {
      post(wd, 'end');
      show(wd, false);
    } else if (cmd == 'send') {
      post(wd, 'send', a);
    }
  });
  api.v = 1;

  w.addEventListener('message', safe(function (e) {
    var m = e.data, wd;
    if (e.origin !== base || !m || m.ns !== NS || !m.event) return;
    wd = widgets[m.widget];
    if (!wd || e.source !== wd.frame.contentWindow) return;
    if (m.event == 'ready') return onReady(wd, m.data || {});
    if (m.event == 'request-close') return show(wd, false);
    emit(wd, m.event, m.data || {});
  }));

  function ownTag(cvi) {
    var s = me.dataset;
    if (s.widget) cvi('init', {
      widget: s.widget, mode: s.mode, target: s.target, position: s.position,
      context: s.context, greeting: s.greeting, language: s.language, userName: s.userName
    });
  }

  safe(function () {
    var q = (prev && prev.q) || [];
    w.cvi = api;
    ownTag(api);
    // init calls first, so that a queued 'open' or 'on' never waits for a widget that is declared later
    q.forEach(function (args) { if (args[0] == 'init') api.apply(null, args); });
    q.forEach(function (args) { if (args[0] != 'init') api.apply(null, args); });
  })();
})(window, document);

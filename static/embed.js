/* widget-server loader: docs/embedding.md */
(function (w, d) {
  var me = d.currentScript, prev = w.cvi, api, base, widgets = {}, order = [], subs = {};
  try {
    base = new URL(me.src).origin;
  } catch (e) { return; }
  if (prev && prev.v) return safe(ownTag)(prev); // a second copy of the loader: its tag goes to the first one

  var CSS = ':host{all:initial}' +
    '.b{position:fixed;z-index:2147483000;bottom:20px;right:20px;height:52px;padding:0 20px;border:0;border-radius:26px;' +
    'background:var(--a);color:var(--t);font:600 15px/1 system-ui,sans-serif;cursor:pointer;box-shadow:0 4px 18px #0005}' +
    '.b:focus-visible,.x:focus-visible{outline:3px solid var(--t);outline-offset:-6px}' +
    '.p{position:fixed;z-index:2147483001;bottom:84px;right:20px;width:min(400px,calc(100vw - 40px));height:min(640px,calc(100vh - 104px));' +
    'display:flex;flex-direction:column;border-radius:14px;overflow:hidden;background:var(--g);box-shadow:0 8px 40px #0006}' +
    ':host(.L) .b,:host(.L) .p{left:20px;right:auto}:host(.T) .b{top:20px;bottom:auto}:host(.T) .p{top:84px;bottom:auto}' +
    '.h{display:flex;align-items:center;height:40px;padding:0 4px 0 14px;background:var(--a);color:var(--t);font:600 14px system-ui,sans-serif}' +
    '.h span{flex:1}.x{width:36px;height:36px;border:0;background:none;color:inherit;font-size:22px;cursor:pointer}' +
    'iframe{flex:1;width:100%;border:0;background:var(--g)}[hidden]{display:none!important}' +
    ':host(.I) .p{position:static;width:100%;height:100%;min-height:420px;border-radius:inherit;box-shadow:none}' +
    '@media (max-width:480px){:host(.W) .p{inset:0;width:auto;height:auto;border-radius:0}}' +
    '@media (prefers-reduced-motion:no-preference){.b{transition:transform .15s}.b:hover{transform:scale(1.05)}}';

  function safe(f) { // nothing escapes into the host page
    return function () { try { return f.apply(this, arguments); } catch (e) { w.console && console.warn('cvi:', e); } };
  }

  function emit(wd, name, data) {
    data = Object.assign({}, data, {widget: wd.id});
    (subs[name] || []).slice().forEach(function (f) { safe(f)(data); });
    wd.host.dispatchEvent(new CustomEvent('cvi:' + name, {bubbles: true, composed: true, detail: data}));
  }

  function post(wd, cmd, data) {
    wd.ready ? wd.frame.contentWindow.postMessage({ns: 'cvi', cmd: cmd, data: data}, base) : wd.q.push([cmd, data]);
  }

  function show(wd, open) {
    if (wd.inline || !wd.ready || wd.open === open) return;
    wd.open = open;
    wd.panel.hidden = !open;
    wd.bubble.setAttribute('aria-expanded', open);
    (open ? wd.frame : wd.bubble).focus();
    if (!open) post(wd, 'close');
    emit(wd, open ? 'open' : 'close');
  }

  function init(o) {
    o = o || {};
    var id = o.widget, wd, host, root, sheet, f;
    if (!id || widgets[id]) return;
    wd = widgets[id] = {id: id, q: [], inline: o.mode == 'inline', o: o};
    order.push(id);
    host = wd.host = d.createElement('div');
    host.dataset.cviWidget = id;
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
    f = safe(function () { // unless destroyed meanwhile
      if (widgets[id] == wd) (wd.inline && o.target && d.querySelector(o.target) || d.body).appendChild(host);
    });
    d.readyState == 'loading' ? d.addEventListener('DOMContentLoaded', f) : f();
    wd.timer = setTimeout(safe(function () {
      emit(wd, 'error', {code: 'unavailable', message: 'the widget did not load on this page'});
    }), 15000);
    w.addEventListener('message', wd.l = safe(function (e) {
      var m = e.data || {}, x = m.data || {};
      if (e.origin !== base || m.ns !== 'cvi' || !m.event || e.source !== wd.frame.contentWindow) return;
      if (m.event == 'ready') return onReady(wd, x);
      if (m.event == 'request-close') return show(wd, false);
      if (m.event == 'state') wd.live = /^(starting|waiting|in-call)$/.test(x.state);
      emit(wd, m.event, x);
      if (wd.gone && !wd.live) drop(wd);
    }));
  }

  function drop(wd) {
    clearTimeout(wd.timer);
    w.removeEventListener('message', wd.l);
    wd.host.remove();
  }

  function onReady(wd, data) {
    var th = data.theme || {}, o = wd.o, pos = o.position || th.launcher_position || '', s = wd.host.style,
      label = th.launcher_label || 'Talk to us';
    if (wd.ready) return;
    wd.ready = 1;
    clearTimeout(wd.timer);
    s.setProperty('--a', th.accent || '#4f46e5');
    s.setProperty('--t', th.accent_text || '#fff');
    s.setProperty('--g', th.background || '#111');
    wd.host.className = (wd.inline ? 'I' : 'W') + (/left/.test(pos) ? ' L' : '') + (/top/.test(pos) ? ' T' : '');
    wd.bubble.textContent = wd.panel.querySelector('span').textContent = label;
    wd.panel.setAttribute('aria-label', label);
    wd.bubble.hidden = wd.inline;
    post(wd, 'config', {
      conversational_context: o.context, custom_greeting: o.greeting,
      language: o.language, user_name: o.userName || o.user_name
    });
    wd.q.forEach(function (c) { post(wd, c[0], c[1]); });
    emit(wd, 'ready');
    if (wd.want) show(wd, true);
  }

  api = safe(function (cmd, a, b) {
    var o = cmd == 'send' ? b : a, wd = widgets[(o && o.widget) || order[0]];
    if (cmd == 'init') return init(a);
    if (cmd == 'on') return typeof b == 'function' && (subs[a] = subs[a] || []).push(b);
    if (cmd == 'off') return subs[a] && (subs[a] = subs[a].filter(function (f) { return f !== b; }));
    if (!wd) return;
    if (cmd == 'send') post(wd, 'send', a);
    if (cmd == 'destroy') { // a live call ends first, as with 'end'; the frame goes when it has ended
      delete widgets[wd.id];
      order.splice(order.indexOf(wd.id), 1);
      if (!wd.live || !wd.frame.contentWindow) return drop(wd);
      wd.gone = wd.bubble.hidden = wd.panel.hidden = 1;
      wd.timer = setTimeout(safe(function () { drop(wd); }), 5000);
    }
    if (cmd == 'end' || cmd == 'destroy') {
      post(wd, 'end');
      show(wd, false);
    }
    if (/^(open|close|start)$/.test(cmd)) {
      wd.want = cmd != 'close';
      show(wd, wd.want);
    }
    if (cmd == 'start') post(wd, 'start');
  });
  api.v = 1;

  function ownTag(cvi) {
    if (me.dataset.widget) cvi('init', Object.assign({}, me.dataset));
  }

  safe(function () {
    var q = (prev && prev.q) || [];
    w.cvi = api;
    ownTag(api);
    // init and destroy first, in order: a queued 'open' or 'on' finds a widget declared after it
    q.forEach(function (args) { if (/^(init|destroy)$/.test(args[0])) api.apply(null, args); });
    q.forEach(function (args) { if (!/^(init|destroy)$/.test(args[0])) api.apply(null, args); });
  })();
})(window, document);

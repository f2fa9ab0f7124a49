/*
 * The widget-server loader, readable source (docs/embedding.md). Host pages load the built, minified copy:
 *
 *   <script async src="https://widgets.example.com/embed.js" data-widget="support"></script>
 *
 * `npm run build` (run by `make install`) writes it to static/embed.js; its budget is 3 KB gzipped
 * (tests/test_embed_budget.py). No dependencies and one function scope; options come from the data-*
 * attributes of its own tag; it talks only to the origin it was loaded from; it drains the queue stub
 * (window.cvi.q) and never throws into the host page. Plain ES2017, so the build only renames and compacts.
 */
(function () {
  // Read now: document.currentScript is null once this first run is over.
  const script = document.currentScript;
  const previous = window.cvi; // the queue stub, or a loader that is already running
  const widgets = {}; // id -> widget
  const declared = []; // ids in the order declared: a call without {widget} goes to the first
  const listeners = {}; // event name -> functions given to cvi('on')
  let serverOrigin;
  try {
    serverOrigin = new URL(script.src).origin;
  } catch (error) {
    return; // not loaded by a <script src>: there is no server to talk to
  }
  if (previous && previous.v) {
    // A second copy of the loader on the page: the first one keeps every widget, and takes this tag's too.
    return guarded(initFromOwnTag)(previous);
  }

  // Whitespace next to punctuation goes, so never write a descendant combinator before a pseudo-class
  // (`.panel :focus`): it would become `.panel:focus`.
  const compactCss = (css) => css.replace(/\s*([{}:;,])\s*/g, '$1').replace(/;}/g, '}');

  const STYLES = compactCss(`
    :host { all: initial; }
    .bubble {
      position: fixed; z-index: 2147483000; bottom: 20px; right: 20px;
      height: 52px; padding: 0 20px; border: 0; border-radius: 26px;
      background: var(--cvi-accent); color: var(--cvi-accent-text);
      font: 600 15px/1 system-ui, sans-serif; cursor: pointer; box-shadow: 0 4px 18px #0005;
    }
    .bubble:focus-visible, .close:focus-visible { outline: 3px solid var(--cvi-accent-text); outline-offset: -6px; }
    .panel {
      position: fixed; z-index: 2147483001; bottom: 84px; right: 20px;
      width: min(400px, calc(100vw - 40px)); height: min(640px, calc(100vh - 104px));
      display: flex; flex-direction: column; border-radius: 14px; overflow: hidden;
      background: var(--cvi-background); box-shadow: 0 8px 40px #0006;
    }
    :host(.at-left) .bubble, :host(.at-left) .panel { left: 20px; right: auto; }
    :host(.at-top) .bubble { top: 20px; bottom: auto; }
    :host(.at-top) .panel { top: 84px; bottom: auto; }
    .header {
      display: flex; align-items: center; height: 40px; padding: 0 4px 0 14px;
      background: var(--cvi-accent); color: var(--cvi-accent-text); font: 600 14px system-ui, sans-serif;
    }
    .header span { flex: 1; }
    .close {
      width: 36px; height: 36px; border: 0; background: none; color: inherit; font-size: 22px; cursor: pointer;
    }
    iframe { flex: 1; width: 100%; border: 0; background: var(--cvi-background); }
    [hidden] { display: none !important; }
    :host(.mode-inline) .panel {
      position: static; width: 100%; height: 100%; min-height: 420px; border-radius: inherit; box-shadow: none;
    }
    @media (max-width: 480px) {
      :host(.mode-launcher) .panel { inset: 0; width: auto; height: auto; border-radius: 0; }
    }
    @media (prefers-reduced-motion: no-preference) {
      .bubble { transition: transform .15s; }
      .bubble:hover { transform: scale(1.05); }
    }
  `);

  // Every entry point from the host page or the browser goes through this: nothing escapes into the page.
  function guarded(f) {
    return function () {
      try {
        return f.apply(this, arguments);
      } catch (error) {
        if (window.console) console.warn('cvi:', error);
      }
    };
  }

  // To cvi('on') listeners and as a composed DOM event on the host element, so the page sees it either way.
  function emit(widget, name, data) {
    const detail = Object.assign({}, data, {widget: widget.id});
    // A copy: a listener that calls cvi('off') while the event is dispatched does not make another miss it.
    (listeners[name] || []).slice().forEach((listener) => guarded(listener)(detail));
    widget.host.dispatchEvent(new CustomEvent('cvi:' + name, {bubbles: true, composed: true, detail}));
  }

  // Commands for the widget page wait until it has said it is ready.
  function tellFrame(widget, command, data) {
    if (widget.ready) widget.frame.contentWindow.postMessage({ns: 'cvi', cmd: command, data}, serverOrigin);
    else widget.queue.push([command, data]);
  }

  function setOpen(widget, open) {
    if (widget.inline || !widget.ready || widget.open === open) return;
    widget.open = open;
    widget.panel.hidden = !open;
    widget.bubble.setAttribute('aria-expanded', open);
    (open ? widget.frame : widget.bubble).focus();
    if (!open) tellFrame(widget, 'close'); // the widget page ends a live conversation when its panel closes
    emit(widget, open ? 'open' : 'close');
  }

  function createWidget(options) {
    options = options || {};
    const id = options.widget;
    if (!id || widgets[id]) return; // declaring a widget twice is harmless (React StrictMode does)
    const widget = widgets[id] = {id, queue: [], inline: options.mode == 'inline', options};
    declared.push(id);

    const host = widget.host = document.createElement('div');
    host.dataset.cviWidget = id;
    const root = host.attachShadow({mode: 'open'});
    // A constructed stylesheet: a page whose CSP refuses inline styles still allows it.
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(STYLES);
    root.adoptedStyleSheets = [sheet];
    // Hidden until the widget page says it is ready: a widget not allowed on this page shows nothing.
    root.innerHTML =
      '<button class="bubble" type="button" aria-expanded="false" hidden></button>' +
      '<div class="panel" role="dialog"' + (widget.inline ? '' : ' hidden') + '>' +
      '<div class="header"><span></span>' +
      '<button class="close" type="button" aria-label="Close">\u00d7</button></div>' +
      '<iframe title="Video conversation" allow="camera; microphone; autoplay; display-capture; fullscreen">' +
      '</iframe></div>';
    widget.bubble = root.querySelector('.bubble');
    widget.panel = root.querySelector('.panel');
    widget.frame = root.querySelector('iframe');
    root.querySelector('.header').hidden = widget.inline;
    widget.bubble.onclick = guarded(() => {
      setOpen(widget, !widget.open);
    });
    root.querySelector('.close').onclick = guarded(() => {
      setOpen(widget, false);
    });
    root.addEventListener('keydown', guarded((event) => {
      if (event.key == 'Escape') setOpen(widget, false);
    }));
    widget.frame.src =
      serverOrigin + '/w/' + encodeURIComponent(id) + '?origin=' + encodeURIComponent(location.origin);

    const attach = guarded(() => {
      if (widgets[id] != widget) return; // destroyed before the page was parsed
      const target = widget.inline && options.target && document.querySelector(options.target);
      (target || document.body).appendChild(host);
    });
    if (document.readyState == 'loading') document.addEventListener('DOMContentLoaded', attach);
    else attach();

    widget.timer = setTimeout(guarded(() => {
      emit(widget, 'error', {code: 'unavailable', message: 'the widget did not load on this page'});
    }), 15000);

    widget.onMessage = guarded((event) => {
      const message = event.data || {};
      const data = message.data || {};
      // Only this widget's own frame, from the server's origin, speaking the loader's protocol.
      if (event.origin !== serverOrigin || message.ns !== 'cvi' || !message.event ||
          event.source !== widget.frame.contentWindow) return;
      if (message.event == 'ready') return onReady(widget, data);
      if (message.event == 'request-close') return setOpen(widget, false);
      if (message.event == 'state') widget.live = /^(starting|waiting|in-call)$/.test(data.state);
      emit(widget, message.event, data);
      if (widget.destroyed && !widget.live) removeWidget(widget);
    });
    window.addEventListener('message', widget.onMessage);
  }

  function removeWidget(widget) {
    clearTimeout(widget.timer);
    window.removeEventListener('message', widget.onMessage);
    widget.host.remove();
  }

  // The widget page is allowed here and sent the theme: show the launcher and send what was waiting.
  function onReady(widget, data) {
    const theme = data.theme || {};
    const options = widget.options;
    const position = options.position || theme.launcher_position || '';
    const label = theme.launcher_label || 'Talk to us';
    const style = widget.host.style;
    if (widget.ready) return;
    widget.ready = true;
    clearTimeout(widget.timer);
    style.setProperty('--cvi-accent', theme.accent || '#4f46e5');
    style.setProperty('--cvi-accent-text', theme.accent_text || '#fff');
    style.setProperty('--cvi-background', theme.background || '#111');
    widget.host.className = (widget.inline ? 'mode-inline' : 'mode-launcher') +
      (/left/.test(position) ? ' at-left' : '') + (/top/.test(position) ? ' at-top' : '');
    widget.bubble.textContent = widget.panel.querySelector('span').textContent = label;
    widget.panel.setAttribute('aria-label', label);
    widget.bubble.hidden = widget.inline;
    tellFrame(widget, 'config', {
      conversational_context: options.context,
      custom_greeting: options.greeting,
      language: options.language,
      user_name: options.userName || options.user_name,
    });
    widget.queue.forEach((queued) => tellFrame(widget, queued[0], queued[1]));
    emit(widget, 'ready');
    if (widget.wantOpen) setOpen(widget, true);
  }

  // window.cvi(command, ...): the API of docs/embedding.md.
  const cvi = guarded(function (command, first, second) {
    const options = command == 'send' ? second : first;
    const widget = widgets[(options && options.widget) || declared[0]];
    if (command == 'init') return createWidget(first);
    if (command == 'on') {
      return typeof second == 'function' && (listeners[first] = listeners[first] || []).push(second);
    }
    if (command == 'off') {
      return listeners[first] && (listeners[first] = listeners[first].filter((listener) => listener !== second));
    }
    if (!widget) return;
    if (command == 'send') tellFrame(widget, 'send', first);
    if (command == 'destroy') {
      // Forgotten at once; a live call ends first, as with 'end', and the frame goes when it has ended.
      delete widgets[widget.id];
      declared.splice(declared.indexOf(widget.id), 1);
      if (!widget.live || !widget.frame.contentWindow) return removeWidget(widget);
      widget.destroyed = widget.bubble.hidden = widget.panel.hidden = true;
      widget.timer = setTimeout(guarded(() => removeWidget(widget)), 5000);
    }
    if (command == 'end' || command == 'destroy') {
      tellFrame(widget, 'end');
      setOpen(widget, false);
    }
    if (/^(open|close|start)$/.test(command)) {
      // Remembered, so an 'open' before the widget page is ready opens it when it is.
      widget.wantOpen = command != 'close';
      setOpen(widget, widget.wantOpen);
    }
    if (command == 'start') tellFrame(widget, 'start');
  });
  cvi.v = 1; // tells a running loader from the queue stub (and a second copy of the loader from the first)

  function initFromOwnTag(api) {
    if (script.dataset.widget) api('init', Object.assign({}, script.dataset));
  }

  guarded(() => {
    const queued = (previous && previous.q) || [];
    const declaresOrRemoves = (args) => /^(init|destroy)$/.test(args[0]);
    window.cvi = cvi;
    initFromOwnTag(cvi);
    // init and destroy first, in their order: a queued 'open' or 'on' finds a widget declared after it.
    queued.forEach((args) => {
      if (declaresOrRemoves(args)) cvi.apply(null, args);
    });
    queued.forEach((args) => {
      if (!declaresOrRemoves(args)) cvi.apply(null, args);
    });
  })();
})();

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

  // The loader's own styles (static/loader/embed.css), minified into this string by the build (build.mjs).
  const STYLES = __STYLES__;

  // Every entry point from the host page or the browser goes through this: nothing escapes into the page.
  function guarded(f) {
    return function () {
      try {
        return f.apply(this, arguments);
      } catch (error) {
        console.warn('cvi:', error);
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

  // Once per widget: one console warning with the fix, and the `error` event at once.
  function refused(widget, code, message) {
    if (widget.ready || widget.refused) return;
    widget.refused = 1;
    console.warn('cvi: ' + message);
    emit(widget, 'error', {code, message});
  }

  function focusFrame(widget, last) {
    widget.frame.focus();
    tellFrame(widget, 'focus', {last});
  }

  // Closing a live call only minimizes it: a small live bubble, the page usable; ending takes End.
  function setMini(widget, mini) {
    widget.mini = mini;
    widget.panel.classList.toggle('mini', mini);
    widget.panel.hidden = false;
    widget.bubble.hidden = mini || widget.destroyed;
    widget.panel.setAttribute('aria-modal', !mini);
    tellFrame(widget, 'minimize', {on: mini});
  }

  function setOpen(widget, open) {
    if (widget.inline || !widget.ready) return;
    if (!open && widget.live) {
      if (!widget.mini) setMini(widget, true);
      return emit(widget, 'close');
    }
    if (widget.open === open && !widget.mini) return;
    const wasMini = widget.mini;
    if (wasMini) setMini(widget, false);
    widget.open = open;
    widget.panel.hidden = !open;
    widget.bubble.setAttribute('aria-expanded', open);
    if (!wasMini) tellFrame(widget, open ? 'open' : 'close');
    if (open) focusFrame(widget);
    else widget.bubble.focus();
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
    // The open panel is a modal dialog: two sentinels keep Tab inside it (the frame's own elements between).
    root.innerHTML =
      '<button class="bubble" type="button" aria-expanded="false" hidden></button>' +
      '<div class="panel"' + (widget.inline ? '>' : ' role="dialog" aria-modal="true" aria-labelledby="t" hidden>') +
      '<i tabindex="0"></i><div class="header"><span id="t"></span>' +
      '<button class="close" type="button" aria-label="Close">\u00d7</button></div>' +
      '<iframe title="Video conversation" allow="camera; microphone; autoplay; display-capture; fullscreen">' +
      '</iframe><i tabindex="0"></i></div>';
    widget.bubble = root.querySelector('.bubble');
    widget.panel = root.querySelector('.panel');
    widget.frame = root.querySelector('iframe');
    widget.close = root.querySelector('.close');
    const edges = root.querySelectorAll('i');
    root.querySelector('.header').hidden = widget.inline;
    if (widget.inline) edges.forEach((edge) => edge.remove());
    edges[0].onfocus = guarded(() => focusFrame(widget, true));
    edges[1].onfocus = guarded(() => widget.close.focus());
    widget.bubble.onclick = guarded(() => {
      setOpen(widget, !widget.open);
    });
    widget.close.onclick = guarded(() => {
      setOpen(widget, false);
    });
    root.addEventListener('keydown', guarded((event) => {
      if (event.key == 'Escape') setOpen(widget, false);
    }));
    // The frame refused by this page's CSP, or by the widget's allowed_origins (frame-ancestors): say so now.
    document.addEventListener('securitypolicyviolation', guarded((event) => {
      // (the loader talks to nothing else of the server's than the frame, so any block of its origin is that)
      if (!event.blockedURI.indexOf(serverOrigin)) {
        refused(widget, 'frame-refused', 'add ' + serverOrigin + ' to frame-src in this page\'s CSP');
      }
    }));
    widget.frame.onload = guarded(() => setTimeout(guarded(() => refused(widget, 'origin-not-allowed',
      'add ' + location.origin + ' to allowed_origins of widget ' + id)), 1500));
    widget.frame.src =
      serverOrigin + '/w/' + encodeURIComponent(id) + '?origin=' + encodeURIComponent(location.origin);

    const attach = guarded(() => {
      if (widgets[id] != widget) return; // destroyed before the page was parsed
      const target = widget.inline && options.target && document.querySelector(options.target);
      (target || document.body).appendChild(host);
    });
    if (document.readyState == 'loading') document.addEventListener('DOMContentLoaded', attach);
    else attach();

    widget.timer = setTimeout(guarded(() => refused(widget, 'unavailable', 'the widget did not load')), 15000);

    widget.onMessage = guarded((event) => {
      const message = event.data || {};
      const data = message.data || {};
      // Only this widget's own frame, from the server's origin, speaking the loader's protocol.
      if (event.origin !== serverOrigin || message.ns !== 'cvi' || !message.event ||
          event.source !== widget.frame.contentWindow) return;
      if (message.event == 'ready') return onReady(widget, data);
      // The widget page holds no conversation now (its end is on its way to the server): a destroyed widget goes.
      if (message.event == 'released') return widget.destroyed && removeWidget(widget);
      if (message.event == 'request-close') return setOpen(widget, false);
      if (message.event == 'request-open') return setOpen(widget, true);
      if (message.event == 'state') {
        widget.live = /^(starting|waiting|in-call|reconnecting|minimized)$/.test(data.state);
        widget.close.setAttribute('aria-label', widget.live ? 'Minimize' : 'Close');
        widget.close.textContent = widget.live ? '\u2013' : '\u00d7';
      }
      emit(widget, message.event, data);
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
      // Forgotten at once; a live call ends first, as with 'end', and the frame goes when it says it holds no
      // conversation, however slow it is to get there (a page gone quiet is ended by the server's heartbeat grace).
      delete widgets[widget.id];
      declared.splice(declared.indexOf(widget.id), 1);
      if (!widget.live || !widget.frame.contentWindow) return removeWidget(widget);
      widget.destroyed = widget.bubble.hidden = widget.panel.hidden = true;
      widget.timer = setTimeout(guarded(() => removeWidget(widget)), 60000);
    }
    if (command == 'end' || command == 'destroy') {
      tellFrame(widget, 'end');
      // Being ended: closed, not minimized.
      widget.live = 0;
      if (widget.mini) setMini(widget, false);
      setOpen(widget, false);
    }
    if (command == 'close' && widget.live) {
      // A live call is not ended by the host page's close: the visitor confirms (or keeps talking).
      setOpen(widget, true);
      return tellFrame(widget, 'confirm-close');
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

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

  // Until the widget page sends the launcher's look (static/launcher.css, themed, with ready): the panel's frame.
  const BASE = '.panel{display:flex;flex-direction:column;height:100%}iframe{flex:1;border:0;width:100%}' +
    '[hidden]{display:none!important}';

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
    widget.teaser.hidden = true;
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
    widget.teaser.hidden = true;
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
    const sheet = widget.sheet = new CSSStyleSheet();
    sheet.replaceSync(BASE);
    root.adoptedStyleSheets = [sheet];
    // Hidden until the widget page says it is ready: a widget not allowed on this page shows nothing.
    // The open panel is a modal dialog: two sentinels keep Tab inside it (the frame's own elements between).
    root.innerHTML =
      '<div class="teaser" hidden><button class="tt" type="button"></button><button class="tx" type="button">' +
      '\u00d7</button></div><button class="bubble" type="button" aria-expanded="false" hidden></button>' +
      '<div class="panel"' + (widget.inline ? '>' : ' role="dialog" aria-modal="true" aria-labelledby="t" hidden>') +
      '<i tabindex="0"></i><div class="header"><span id="t"></span><button class="close" type="button"></button>' +
      '</div><iframe allow="camera; microphone; autoplay; display-capture; fullscreen"></iframe><i tabindex="0"></i></div>';
    const find = (selector) => root.querySelector(selector);
    widget.bubble = find('.bubble');
    widget.panel = find('.panel');
    widget.frame = find('iframe');
    widget.close = find('.close');
    widget.teaser = find('.teaser');
    const edges = root.querySelectorAll('i');
    find('.header').hidden = widget.inline;
    if (widget.inline) edges.forEach((edge) => edge.remove());
    edges[0].onfocus = guarded(() => focusFrame(widget, true));
    edges[1].onfocus = guarded(() => widget.close.focus());
    find('.tt').onclick = guarded(() => setOpen(widget, true));
    find('.tx').onclick = guarded(() => {
      widget.teaser.hidden = true;
    });
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
      if (message.event == 'look') return look(widget, data);
      // The widget page holds no conversation now (its end is on its way to the server): a destroyed widget goes.
      if (message.event == 'released') return widget.destroyed && removeWidget(widget);
      if (message.event == 'request-close') return setOpen(widget, false);
      if (message.event == 'request-open') return setOpen(widget, true);
      if (message.event == 'state') {
        widget.live = /^(starting|queued|waiting|in-call|reconnecting|minimized)$/.test(data.state);
        widget.host.dataset.s = data.state;
        labels(widget);
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

  // A live call's close only minimizes: the header's button and the open launcher say which.
  function labels(widget) {
    const text = widget.labels[widget.live ? 'minimize' : 'close'];
    widget.close.setAttribute('aria-label', text);
    widget.close.textContent = widget.live ? '\u2013' : '\u00d7';
    widget.host.classList.toggle('live', !!widget.live);
    widget.bubble.querySelector('.x').textContent = text;
  }

  // The launcher's look in the visitor's language, drawn by the widget page (its CSS, the bubble's inside).
  function look(widget, data) {
    const position = widget.options.position || data.theme.launcher_position;
    widget.sheet.replaceSync(BASE + data.css);
    widget.host.className = (widget.inline ? 'mode-inline ' : 'mode-launcher ') + data.classes +
      (/left/.test(position) ? ' at-left' : '') + (/top/.test(position) ? ' at-top' : '');
    widget.host.dir = data.dir;
    widget.bubble.innerHTML = data.bubble;
    widget.panel.querySelector('span').textContent = data.title;
    widget.frame.title = data.labels.frame;
    widget.teaser.lastChild.setAttribute('aria-label', data.labels.close);
    widget.teaser.firstChild.textContent = data.teaser;
    widget.labels = data.labels;
    labels(widget);
  }

  // The widget page is allowed here and sent its look: show the launcher and send what was waiting.
  function onReady(widget, data) {
    const options = widget.options;
    if (widget.ready) return;
    widget.ready = true;
    clearTimeout(widget.timer);
    look(widget, data);
    widget.bubble.hidden = widget.inline;
    // A phone's keyboard shrinks the visual viewport: the full-screen panel follows it (launcher.css).
    const viewport = window.visualViewport;
    if (viewport) {
      viewport.addEventListener('resize', guarded(() => {
        widget.host.style.setProperty('--cvi-vh', viewport.height + 'px');
      }));
    }
    if (data.teaser && !widget.inline) {
      setTimeout(guarded(() => {
        widget.teaser.hidden = widget.open || widget.mini || widget.destroyed;
      }), data.delay * 1000);
    }
    tellFrame(widget, 'config', {
      conversational_context: options.context,
      custom_greeting: options.greeting,
      language: options.language,
      user_name: options.userName || options.user_name,
      header: !widget.inline,
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

// A React component around the widget-server loader. StrictMode-safe: the loader is added once per page,
// each mount declares nothing twice, and unmounting ends any live conversation and removes the widget
// (see README.md).
import {useEffect, useRef} from 'react';

// Your widget server; pass `server` to point one component at another (staging, a local server).
const DEFAULT_SERVER = 'https://widgets.example.com';

function loadOnce(server) {
  window.cvi = window.cvi || function () { (window.cvi.q = window.cvi.q || []).push(arguments); };
  const src = `${server}/embed.js`;
  if (!document.querySelector(`script[src="${src}"]`)) {
    const s = document.createElement('script');
    s.async = true;
    s.src = src;
    document.head.appendChild(s);
  }
}

export function ConversationWidget({widget = 'support', inline = false, context, onEvent, server = DEFAULT_SERVER}) {
  const target = useRef(null);
  const handler = useRef(onEvent);
  handler.current = onEvent;

  useEffect(() => {
    loadOnce(server);
    const id = `cvi-${widget}`;
    if (inline && target.current) target.current.id = id;
    // The cleanup's 'destroy' removes the widget, so StrictMode's mount, unmount, mount leaves exactly one.
    window.cvi('init', {widget, mode: inline ? 'inline' : 'launcher', target: `#${id}`, context});
    // Listeners stay until the conversation this cleanup ends has said so, so onEvent hears its end.
    let live = null, unmounted = false;
    const off = () => listeners.forEach(([name, fn]) => window.cvi('off', name, fn));
    const names = ['state', 'conversation.created', 'conversation.started', 'conversation.ended', 'utterance', 'error'];
    const listeners = names.map((name) => [name, (e) => {
      if (e.widget !== widget) return;
      if (name === 'conversation.created') live = e.conversation_id;
      if (name === 'conversation.ended' && e.conversation_id === live) live = null;
      handler.current?.(name, e);
      if (unmounted && !live) off();
    }]);
    listeners.forEach(([name, fn]) => window.cvi('on', name, fn));
    return () => {
      unmounted = true;
      // Billing stops when the visitor leaves the view: 'destroy' ends a live conversation as 'end' does,
      // then removes the launcher bubble and the iframe. If React already removed an inline widget's <div>,
      // the iframe went with it: the widget page ended the call as it unloaded, no event comes back.
      const gone = !document.querySelector(`[data-cvi-widget="${CSS.escape(widget)}"]`);
      window.cvi('destroy', {widget});
      if (gone || !live) off();
    };
  }, [widget, inline, context, server]);

  return inline ? <div ref={target} style={{height: 600}} /> : null;
}

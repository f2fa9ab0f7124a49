// A React component around the widget-server loader. StrictMode-safe: the loader is added once per page,
// each mount declares nothing twice, and unmounting ends any live conversation and removes the listeners.
import {useEffect, useRef} from 'react';

const SERVER = 'https://widgets.example.com';

function loadOnce() {
  window.cvi = window.cvi || function () { (window.cvi.q = window.cvi.q || []).push(arguments); };
  if (!document.querySelector(`script[src="${SERVER}/embed.js"]`)) {
    const s = document.createElement('script');
    s.async = true;
    s.src = `${SERVER}/embed.js`;
    document.head.appendChild(s);
  }
}

export function ConversationWidget({widget = 'support', inline = false, context, onEvent}) {
  const target = useRef(null);
  const handler = useRef(onEvent);
  handler.current = onEvent;

  useEffect(() => {
    loadOnce();
    const id = `cvi-${widget}`;
    if (inline && target.current) target.current.id = id;
    // 'init' ignores a widget that already exists, so StrictMode's second mount creates no duplicate.
    window.cvi('init', {widget, mode: inline ? 'inline' : 'launcher', target: `#${id}`, context});
    const names = ['state', 'conversation.started', 'conversation.ended', 'utterance', 'error'];
    const listeners = names.map((name) => [name, (e) => e.widget === widget && handler.current?.(name, e)]);
    listeners.forEach(([name, fn]) => window.cvi('on', name, fn));
    return () => {
      listeners.forEach(([name, fn]) => window.cvi('off', name, fn));
      window.cvi('end', {widget});  // billing stops when the visitor leaves the view
    };
  }, [widget, inline, context]);

  return inline ? <div ref={target} style={{height: 600}} /> : null;
}

// One live call per browser. Every widget frame is on the server's origin, so a BroadcastChannel reaches the
// widgets of a page and the tabs of a site (a Web Lock would too, but browsers deny Web Locks to frames in a
// third-party context, which is exactly where widgets live). A frame that holds the live call answers "who";
// a second Join hears the answer and offers to switch; a switch asks the holder to end its call first.
const channel = 'BroadcastChannel' in window ? new BroadcastChannel('cvi-live-call') : null;
const me = Math.random().toString(36).slice(2);
const ASK_MS = 150;
let holding = false;
let onTaken = () => {};

channel?.addEventListener('message', (e) => {
  const m = e.data || {};
  if (m.from === me) return;
  if (m.type === 'who' && holding) channel.postMessage({type: 'live', from: me});
  if (m.type === 'switch' && holding) onTaken();
});

function release() {
  if (!holding) return;
  holding = false;
  channel?.postMessage({type: 'released', from: me});
}

// Resolves true when some other frame answers `ask` with `answer` within `ms`.
function hear(ask, answer, ms) {
  if (!channel) return Promise.resolve(false);
  return new Promise((resolve) => {
    const listen = (e) => {
      if (e.data?.type === answer && e.data.from !== me) done(true);
    };
    const done = (value) => {
      clearTimeout(timer);
      channel.removeEventListener('message', listen);
      resolve(value);
    };
    const timer = setTimeout(() => done(false), ms);
    channel.addEventListener('message', listen);
    channel.postMessage({type: ask, from: me});
  });
}

/** The live call, if no other frame has one: resolves with release() or null. */
export async function claim() {
  if (holding) return release;
  if (await hear('who', 'live', ASK_MS)) return null;
  holding = true;
  return release;
}

/** Asks the holder to end its call, waits (at most `ms`) until it has; resolves with release() or null. */
export async function takeOver(ms = 5000) {
  await hear('switch', 'released', ms);
  return claim();
}

/** fn() is called when another frame takes the call over (it then ends its call, which releases). */
export function onSwitch(fn) {
  onTaken = fn;
}

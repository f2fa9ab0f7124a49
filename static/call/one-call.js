// One live call per browser. Every widget frame is on the server's origin, so a BroadcastChannel reaches the
// widgets of a page and the tabs of a site (a Web Lock would too, but browsers deny Web Locks to frames in a
// third-party context, which is exactly where widgets live). Each frame keeps track of the frames that hold
// a live call (they say "live" when they start, and to a newcomer's "who"; "released" when they end), so a
// Join knows at once, without a round trip, whether it would be a second call; a switch asks the holder to
// end its call first.
const channel = 'BroadcastChannel' in window ? new BroadcastChannel('cvi-live-call') : null;
const me = Math.random().toString(36).slice(2);
const others = new Set();
let holding = false;
let onTaken = () => {};

const say = (type) => channel?.postMessage({type, from: me});

channel?.addEventListener('message', (e) => {
  const {type, from} = e.data || {};
  if (from === me) return;
  if (type === 'who' && holding) say('live');
  else if (type === 'live') others.add(from);
  else if (type === 'released') others.delete(from);
  else if (type === 'switch' && holding) onTaken();
});
say('who');

function release() {
  if (!holding) return;
  holding = false;
  say('released');
}

/** The live call, if no other frame has one: release(), or null while another frame holds it. */
export function claim() {
  if (others.size) return null;
  holding = true;
  say('live');
  return release;
}

/** Asks the holders to end their calls, waits (at most `ms`) until they have; resolves with release() or null. */
export function takeOver(ms = 5000) {
  say('switch');
  return new Promise((resolve) => {
    const until = Date.now() + ms;
    const poll = () => {
      if (!others.size) return resolve(claim());
      // A holder that never answers is gone (a crashed tab): forget it.
      if (Date.now() > until) {
        others.clear();
        return resolve(claim());
      }
      setTimeout(poll, 50);
    };
    poll();
  });
}

/** fn() is called when another frame takes the call over (it then ends its call, which releases). */
export function onSwitch(fn) {
  onTaken = fn;
}

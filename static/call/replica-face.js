// The sandbox replica's face: a figure drawn on a canvas and captured as a real video track.
// With greenscreen the background is the engine's key colour, RGB(0, 255, 155), as a real replica's would be.
export const KEY = [0, 255, 155];

export function createFace({greenscreen, width = 480, height = 360, fps = 24}) {
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const g = canvas.getContext('2d');
  const calm = matchMedia('(prefers-reduced-motion: reduce)').matches;
  let talking = false;
  let t0 = performance.now();

  function draw() {
    const t = (performance.now() - t0) / 1000;
    if (greenscreen) {
      g.fillStyle = `rgb(${KEY.join(',')})`;
    } else {
      const grad = g.createLinearGradient(0, 0, 0, height);
      grad.addColorStop(0, '#3b4a6b');
      grad.addColorStop(1, '#1c2333');
      g.fillStyle = grad;
    }
    g.fillRect(0, 0, width, height);
    const sway = calm ? 0 : Math.sin(t * 0.8) * 4;
    const cx = width / 2 + sway;
    // shoulders
    g.fillStyle = '#34406b';
    g.beginPath();
    g.ellipse(cx, height + 20, 150, 110, 0, Math.PI, 0);
    g.fill();
    // neck and head
    g.fillStyle = '#e0ac8a';
    g.fillRect(cx - 24, height * 0.55, 48, 60);
    g.beginPath();
    g.ellipse(cx, height * 0.42, 70, 88, 0, 0, Math.PI * 2);
    g.fill();
    // hair
    g.fillStyle = '#3a2a20';
    g.beginPath();
    g.ellipse(cx, height * 0.25, 74, 40, 0, Math.PI, 0);
    g.fill();
    // eyes (blink every few seconds)
    const blink = !calm && t % 4 < 0.12;
    g.fillStyle = '#1e1e28';
    for (const dx of [-26, 26]) {
      g.beginPath();
      g.ellipse(cx + dx, height * 0.4, 8, blink ? 1 : 8, 0, 0, Math.PI * 2);
      g.fill();
    }
    // mouth: opens while speaking
    const open = talking ? 4 + Math.abs(Math.sin(t * (calm ? 4 : 11))) * 12 : 2;
    g.fillStyle = '#7a2e2e';
    g.beginPath();
    g.ellipse(cx, height * 0.56, 22, open, 0, 0, Math.PI * 2);
    g.fill();
  }

  draw();
  const stream = canvas.captureStream(fps);
  const timer = setInterval(draw, 1000 / fps);
  return {
    canvas,
    track: stream.getVideoTracks()[0],
    speaking(on) { talking = on; if (on) t0 = performance.now() - 1000; },
    stop() { clearInterval(timer); stream.getTracks().forEach((tr) => tr.stop()); },
  };
}

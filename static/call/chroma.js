// Real-time chroma key: the replica's green, RGB(0, 255, 155), becomes transparent with soft edges and
// spill suppression; the widget's background (a colour or an image, set with CSS behind the canvas) shows through.
// WebGL when the browser has it, a 2D-canvas fallback otherwise.
const KEY = [0 / 255, 255 / 255, 155 / 255];

const VERTEX = `attribute vec2 p; varying vec2 uv;
void main() { uv = vec2(p.x * .5 + .5, .5 - p.y * .5); gl_Position = vec4(p, 0., 1.); }`;

// Distance in the CbCr plane (brightness-independent), smoothstep for soft edges, and the keyed colour's
// leftover green pulled down to the mean of red and blue (spill suppression) where the edge is partly keyed.
const FRAGMENT = `precision mediump float;
varying vec2 uv; uniform sampler2D tex; uniform vec3 key; uniform vec2 range;
vec2 cbcr(vec3 c) { return vec2(-.169 * c.r - .331 * c.g + .5 * c.b, .5 * c.r - .419 * c.g - .081 * c.b); }
void main() {
  vec4 c = texture2D(tex, uv);
  float d = distance(cbcr(c.rgb), cbcr(key));
  float a = smoothstep(range.x, range.y, d);
  float spill = smoothstep(range.x, range.y * 2.5, d);
  float rb = (c.r + c.b) * .5;
  vec3 col = vec3(c.r, mix(min(c.g, rb), c.g, spill), c.b);
  gl_FragColor = vec4(col * a, a);
}`;

export function createChromaKey(canvas, {similarity = 0.09, smoothness = 0.08} = {}) {
  const gl = canvas.getContext('webgl', {premultipliedAlpha: true, alpha: true, antialias: false});
  return gl ? webgl(canvas, gl, similarity, smoothness) : cpu(canvas, similarity, smoothness);
}

function webgl(canvas, gl, similarity, smoothness) {
  const shader = (type, src) => {
    const s = gl.createShader(type);
    gl.shaderSource(s, src);
    gl.compileShader(s);
    return s;
  };
  const prog = gl.createProgram();
  gl.attachShader(prog, shader(gl.VERTEX_SHADER, VERTEX));
  gl.attachShader(prog, shader(gl.FRAGMENT_SHADER, FRAGMENT));
  gl.linkProgram(prog);
  gl.useProgram(prog);
  gl.bindBuffer(gl.ARRAY_BUFFER, gl.createBuffer());
  gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([-1, -1, 1, -1, -1, 1, 1, 1]), gl.STATIC_DRAW);
  const loc = gl.getAttribLocation(prog, 'p');
  gl.enableVertexAttribArray(loc);
  gl.vertexAttribPointer(loc, 2, gl.FLOAT, false, 0, 0);
  gl.bindTexture(gl.TEXTURE_2D, gl.createTexture());
  for (const [k, v] of [[gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE], [gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE],
    [gl.TEXTURE_MIN_FILTER, gl.LINEAR], [gl.TEXTURE_MAG_FILTER, gl.LINEAR]]) gl.texParameteri(gl.TEXTURE_2D, k, v);
  gl.uniform3fv(gl.getUniformLocation(prog, 'key'), KEY);
  gl.uniform2f(gl.getUniformLocation(prog, 'range'), similarity, similarity + smoothness);
  return {
    kind: 'webgl',
    draw(video) {
      if (canvas.width !== video.videoWidth || canvas.height !== video.videoHeight) {
        canvas.width = video.videoWidth;
        canvas.height = video.videoHeight;
        gl.viewport(0, 0, canvas.width, canvas.height);
      }
      gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA, gl.RGBA, gl.UNSIGNED_BYTE, video);
      gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
    },
  };
}

function cpu(canvas, similarity, smoothness) {
  const g = canvas.getContext('2d', {willReadFrequently: true});
  const kcb = -0.169 * KEY[0] - 0.331 * KEY[1] + 0.5 * KEY[2];
  const kcr = 0.5 * KEY[0] - 0.419 * KEY[1] - 0.081 * KEY[2];
  const lo = similarity;
  const hi = similarity + smoothness;
  const step = (a, b, x) => { const t = Math.min(1, Math.max(0, (x - a) / (b - a))); return t * t * (3 - 2 * t); };
  return {
    kind: '2d',
    draw(video) {
      const w = Math.min(video.videoWidth, 320);
      const h = Math.round(video.videoHeight * (w / video.videoWidth));
      if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
      g.drawImage(video, 0, 0, w, h);
      const img = g.getImageData(0, 0, w, h);
      const px = img.data;
      for (let i = 0; i < px.length; i += 4) {
        const r = px[i] / 255, gr = px[i + 1] / 255, b = px[i + 2] / 255;
        const cb = -0.169 * r - 0.331 * gr + 0.5 * b - kcb;
        const cr = 0.5 * r - 0.419 * gr - 0.081 * b - kcr;
        const d = Math.sqrt(cb * cb + cr * cr);
        const a = step(lo, hi, d);
        if (a < 1) {
          const spill = step(lo, hi * 2.5, d);
          px[i + 1] = Math.min(px[i + 1], (px[i] + px[i + 2]) / 2) * (1 - spill) + px[i + 1] * spill;
        }
        px[i + 3] = a * 255;
      }
      g.putImageData(img, 0, 0);
    },
  };
}

export function runChromaKey(video, canvas) {
  const key = createChromaKey(canvas);
  let frame = 0;
  let stopped = false;
  const loop = () => {
    if (stopped) return;
    if (video.readyState >= 2 && video.videoWidth) key.draw(video);
    frame = video.requestVideoFrameCallback ? video.requestVideoFrameCallback(loop) : requestAnimationFrame(loop);
  };
  loop();
  return {
    kind: key.kind,
    stop() {
      stopped = true;
      if (video.cancelVideoFrameCallback) video.cancelVideoFrameCallback(frame); else cancelAnimationFrame(frame);
    },
  };
}

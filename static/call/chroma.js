// Real-time chroma key: the replica's green, RGB(0, 255, 155), becomes transparent; the widget's background
// (a colour, an image, or the blurred poster, set with CSS behind the canvas) shows through. Clean edges take
// three steps: the key's alpha from the distance to the key in the CbCr plane (brightness-independent), softened
// at the outline by the mean of its four neighbours' (a one-pixel fringe of mixed colour goes, the edge is
// anti-aliased); then spill suppression on every pixel: green above the larger of red and blue is the screen's
// light on the subject, not the subject's colour, so it is pulled down to that, and the lost light given back
// as grey. WebGL when the browser has it, a 2D-canvas fallback (the same steps) otherwise.
const KEY = [0 / 255, 255 / 255, 155 / 255];

const VERTEX = `attribute vec2 p; varying vec2 uv;
void main() { uv = vec2(p.x * .5 + .5, .5 - p.y * .5); gl_Position = vec4(p, 0., 1.); }`;

const FRAGMENT = `precision mediump float;
varying vec2 uv; uniform sampler2D tex; uniform vec3 key; uniform vec2 range; uniform vec2 px;
vec2 cbcr(vec3 c) { return vec2(-.169 * c.r - .331 * c.g + .5 * c.b, .5 * c.r - .419 * c.g - .081 * c.b); }
float keyed(vec2 at) { return smoothstep(range.x, range.y, distance(cbcr(texture2D(tex, at).rgb), cbcr(key))); }
void main() {
  vec4 c = texture2D(tex, uv);
  float near = (keyed(uv + vec2(px.x, 0.)) + keyed(uv - vec2(px.x, 0.)) + keyed(uv + vec2(0., px.y)) +
    keyed(uv - vec2(0., px.y))) * .25;
  float a = min(keyed(uv), near);
  float m = max(c.r, c.b);
  float spill = max(c.g - m, 0.);
  vec3 col = vec3(c.r, c.g - spill, c.b) + spill * .3;
  gl_FragColor = vec4(col * a, a);
}`;

export function createChromaKey(canvas, {similarity = 0.1, smoothness = 0.1} = {}) {
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
  const px = gl.getUniformLocation(prog, 'px');
  return {
    kind: 'webgl',
    draw(video) {
      if (canvas.width !== video.videoWidth || canvas.height !== video.videoHeight) {
        canvas.width = video.videoWidth;
        canvas.height = video.videoHeight;
        gl.viewport(0, 0, canvas.width, canvas.height);
        gl.uniform2f(px, 1 / canvas.width, 1 / canvas.height);
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
  let alpha = new Float32Array(0);
  return {
    kind: '2d',
    draw(video) {
      const w = Math.min(video.videoWidth, 480);
      const h = Math.round(video.videoHeight * (w / video.videoWidth));
      if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
      if (alpha.length !== w * h) alpha = new Float32Array(w * h);
      g.drawImage(video, 0, 0, w, h);
      const img = g.getImageData(0, 0, w, h);
      const px = img.data;
      for (let i = 0, j = 0; i < px.length; i += 4, j++) {
        const r = px[i] / 255, gr = px[i + 1] / 255, b = px[i + 2] / 255;
        const cb = -0.169 * r - 0.331 * gr + 0.5 * b - kcb;
        const cr = 0.5 * r - 0.419 * gr - 0.081 * b - kcr;
        const t = Math.min(1, Math.max(0, (Math.sqrt(cb * cb + cr * cr) - lo) / (hi - lo)));
        alpha[j] = t * t * (3 - 2 * t);
      }
      for (let y = 0, j = 0; y < h; y++) {
        for (let x = 0; x < w; x++, j++) {
          const i = j * 4;
          const near = (alpha[x > 0 ? j - 1 : j] + alpha[x < w - 1 ? j + 1 : j] + alpha[y > 0 ? j - w : j] +
            alpha[y < h - 1 ? j + w : j]) / 4;
          const a = Math.min(alpha[j], near);
          const spill = Math.max(0, px[i + 1] - Math.max(px[i], px[i + 2]));
          px[i] += spill * 0.3;
          px[i + 1] -= spill * 0.7;
          px[i + 2] += spill * 0.3;
          px[i + 3] = a * 255;
        }
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

// Builds static/embed.js, the loader host pages load: the source minified for ES2017 (npm run build; `make
// install` runs it). Its styles are the widget page's to send (static/launcher.css), not part of this file.
import {build} from 'esbuild';

const here = new URL('.', import.meta.url);
await build({
  entryPoints: [new URL('embed.js', here).pathname],
  outfile: new URL('../embed.js', here).pathname,
  minify: true,
  target: 'es2017',
  logLevel: 'warning',
  banner: {js: '/* widget-server loader: docs/embedding.md */'},
});

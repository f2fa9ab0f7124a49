// Builds static/embed.js, the loader host pages load: embed.css minified into the source's __STYLES__,
// then the whole minified for ES2017 (npm run build; `make install` runs it).
import {readFileSync} from 'node:fs';
import {build, transform} from 'esbuild';

const here = new URL('.', import.meta.url);
const css = await transform(readFileSync(new URL('embed.css', here), 'utf8'), {loader: 'css', minify: true});
await build({
  entryPoints: [new URL('embed.js', here).pathname],
  outfile: new URL('../embed.js', here).pathname,
  minify: true,
  target: 'es2017',
  logLevel: 'warning',
  banner: {js: '/* widget-server loader: docs/embedding.md */'},
  define: {__STYLES__: JSON.stringify(css.code.trim())},
});

// Builds the widget bundles into afnio_widgets/static/ (run by `npm run build`).
//
// 1. js/layout-worker.js (with Graphviz's WebAssembly inlined) is bundled to a string.
// 2. js/widget.js imports that string as "virtual:layout-worker" and starts it as a Web Worker.
// 3. js/training.js, js/gradmode.js, js/tuner.js and js/styles.css are bundled as they are;
//    js/tuner.css (which imports styles.css) becomes tuner.css.

import * as esbuild from "esbuild";

const watch = process.argv.includes("--watch");
const outdir = "afnio_widgets/static";

async function workerSource() {
  const result = await esbuild.build({
    entryPoints: ["js/layout-worker.js"],
    bundle: true,
    format: "esm",
    minify: !watch,
    write: false,
    target: "es2022",
    logLevel: "warning",
  });
  return result.outputFiles[0].text;
}

/** @type {import("esbuild").Plugin} */
const inlineWorker = {
  name: "inline-layout-worker",
  setup(build) {
    build.onResolve({ filter: /^virtual:layout-worker$/ }, () => ({ path: "layout-worker", namespace: "afnio-worker" }));
    build.onLoad({ filter: /.*/, namespace: "afnio-worker" }, async () => ({
      contents: `export default ${JSON.stringify(await workerSource())};`,
      loader: "js",
      watchFiles: ["js/layout-worker.js"],
    }));
  },
};

const options = {
  entryPoints: {
    widget: "js/widget.js",
    training: "js/training.js",
    gradmode: "js/gradmode.js",
    tuner: "js/tuner.js",
  },
  bundle: true,
  format: /** @type {const} */ ("esm"),
  minify: !watch,
  sourcemap: watch ? /** @type {const} */ ("inline") : false,
  target: "es2022",
  outdir,
  entryNames: "[name]",
  plugins: [inlineWorker],
  logLevel: /** @type {const} */ ("info"),
};

const css = {
  entryPoints: ["js/styles.css"],
  bundle: true,
  minify: !watch,
  outfile: `${outdir}/widget.css`,
  logLevel: /** @type {const} */ ("info"),
};

const tunerCss = { ...css, entryPoints: ["js/tuner.css"], outfile: `${outdir}/tuner.css` };

if (watch) {
  await (await esbuild.context(options)).watch();
  await (await esbuild.context(css)).watch();
  await (await esbuild.context(tunerCss)).watch();
} else {
  await Promise.all([esbuild.build(options), esbuild.build(css), esbuild.build(tunerCss)]);
}

// Builds the widget bundles into afnio_widgets/static/ (run by `npm run build`).
//
// 1. js/layout-worker.js (with Graphviz's WebAssembly inlined) is bundled to a string.
// 2. js/widget.js imports that string as "virtual:layout-worker" and starts it as a Web Worker.
// 3. js/training.js, js/gradmode.js and js/tuner.js are bundled as they are; js/widgets.css
//    (styles.css and tuner.css) becomes widget.css, the one style sheet of every widget.
// 4. js/loader.js is every widget's `_esm`: it imports one of the bundles above from the shared
//    bundle model the widget references (afnio_widgets/_assets.py).

import * as fs from "node:fs/promises";
import * as path from "node:path";

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
    loader: "js/loader.js",
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
  entryPoints: ["js/widgets.css"],
  bundle: true,
  minify: !watch,
  outfile: `${outdir}/widget.css`,
  logLevel: /** @type {const} */ ("info"),
};

/**
 * Writes each output file to a temporary name and renames it into place, so that a reader (a
 * JupyterLab serving the widgets, a test) never sees a bundle half written. A file whose content
 * did not change is left alone.
 * @param {import("esbuild").BuildResult} result
 */
async function writeAtomically(result) {
  for (const file of result.outputFiles ?? []) {
    const old = await fs.readFile(file.path).catch(() => null);
    if (old !== null && Buffer.compare(old, Buffer.from(file.contents)) === 0) continue;
    const temporary = `${file.path}.${process.pid}.tmp`;
    await fs.writeFile(temporary, file.contents);
    await fs.rename(temporary, file.path);
    console.log(`  ${path.relative(process.cwd(), file.path)}  ${(file.contents.length / 1024).toFixed(1)}kb`);
  }
}

if (watch) {
  await (await esbuild.context(options)).watch();
  await (await esbuild.context(css)).watch();
} else {
  const results = await Promise.all([
    esbuild.build({ ...options, write: false }),
    esbuild.build({ ...css, write: false }),
  ]);
  await fs.mkdir(outdir, { recursive: true });
  for (const result of results) await writeAtomically(result);
}

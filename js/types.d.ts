// Module provided by js/build.mjs: the bundled layout worker's source text.
declare module "virtual:layout-worker" {
  const source: string;
  export default source;
}

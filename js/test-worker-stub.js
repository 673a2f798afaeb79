// Stands for "virtual:layout-worker" in tests (see vitest.config.js).
export default "";

/** `import source from './x.proto?raw'`: the file's text (scripts/build.mjs and Vite both do this). */
declare module '*.proto?raw' {
  const source: string;
  export default source;
}

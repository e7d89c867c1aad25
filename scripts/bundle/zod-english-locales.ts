// The CLI bundle's stand-in for zod's `locales` namespace: only English, the one locale
// lambda-deps' messages use. zod registers English itself on the first schema; the namespace of
// its other 40-odd locales is about half of zod's size, and parsing it is start-up time.
export { default as en } from 'zod/v4/locales/en.js';

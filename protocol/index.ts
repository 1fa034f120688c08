export * from './limits.js';
export * from './errors.js';
export * from './events.js';
export * from './messages.js';
export * from './codec.js';
export * from './rules.js';
export * from './prize.js';
export * from './hash.js';

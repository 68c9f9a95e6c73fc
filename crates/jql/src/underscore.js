// `_`: the part of the Underscore 1.8 API that JQL scripts use (Mixpanel's docs and
// its own scripts call each, map, find, keys, has, chain ... values, sortBy, pluck,
// first, flatten, union, indexBy and isNumber, among others). Written for this
// sandbox: collections are arrays or plain objects; iteratees are functions, property
// names, or objects to match.
"use strict";
(function (global) {
  function iteratee(f) {
    if (f === undefined || f === null) return (v) => v;
    if (typeof f === "function") return f;
    if (typeof f === "string" || typeof f === "number") return (v) => (v === null || v === undefined ? undefined : v[f]);
    if (typeof f === "object") return (v) => Object.keys(f).every((k) => v !== null && v !== undefined && v[k] === f[k]);
    throw new TypeError("_: an iteratee must be a function, a property name or an object");
  }
  const isArrayLike = (c) => Array.isArray(c) || typeof c === "string";
  function entries(c) {
    if (c === null || c === undefined) return [];
    if (isArrayLike(c)) return Array.prototype.map.call(c, (v, i) => [i, v]);
    return Object.keys(c).map((k) => [k, c[k]]);
  }
  const valuesOf = (c) => entries(c).map((e) => e[1]);
  function cmp(a, b) {
    if (a === b) return 0;
    if (a === undefined) return 1;
    if (b === undefined) return -1;
    return a < b ? -1 : a > b ? 1 : 0;
  }
  function deepEqual(a, b) {
    if (a === b) return true;
    if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime();
    if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return a !== a && b !== b;
    if (Array.isArray(a) !== Array.isArray(b)) return false;
    const ka = Object.keys(a), kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqual(a[k], b[k]));
  }
  function flat(list, shallow, out) {
    for (const v of list) {
      if (Array.isArray(v)) {
        if (shallow) for (const e of v) out.push(e);
        else flat(v, false, out);
      } else out.push(v);
    }
    return out;
  }
  function uniq(list, isSorted, f) {
    // `_.uniq(list, [isSorted], [iteratee])`: sortedness only makes Underscore faster.
    if (typeof isSorted !== "boolean") f = isSorted;
    const get = iteratee(f), seen = [], out = [];
    for (const v of list || []) {
      const k = get(v);
      if (!seen.some((s) => s === k || (s !== s && k !== k))) { seen.push(k); out.push(v); }
    }
    return out;
  }
  function extremum(c, f, better) {
    const get = iteratee(f);
    let best, bestKey;
    for (const v of valuesOf(c)) {
      const k = get(v);
      if (bestKey === undefined || better(k, bestKey)) { best = v; bestKey = k; }
    }
    return best === undefined ? (better(1, 0) ? -Infinity : Infinity) : best;
  }
  function grouper(assign) {
    return function (c, f) {
      const get = iteratee(f), out = {};
      for (const [k, v] of entries(c)) assign(out, get(v, k, c), v);
      return out;
    };
  }

  // `_(obj).f(...)` is `_.f(obj, ...)`; only `_.chain(obj)` (or `_(obj).chain()`) wraps.
  const _ = function (obj) {
    const wrapper = { chain: () => chain(obj), value: () => obj };
    for (const name of Object.keys(_)) {
      if (name !== "chain") wrapper[name] = (...args) => _[name](obj, ...args);
    }
    return wrapper;
  };
  Object.assign(_, {
    each: function (c, f) { for (const [k, v] of entries(c)) f(v, k, c); return c; },
    map: (c, f) => { const g = iteratee(f); return entries(c).map(([k, v]) => g(v, k, c)); },
    reduce: function (c, f, memo) {
      const list = entries(c);
      let i = 0;
      if (arguments.length < 3) { memo = list.length ? list[0][1] : undefined; i = 1; }
      for (; i < list.length; i++) memo = f(memo, list[i][1], list[i][0], c);
      return memo;
    },
    filter: (c, f) => { const g = iteratee(f); return entries(c).filter(([k, v]) => g(v, k, c)).map((e) => e[1]); },
    reject: (c, f) => { const g = iteratee(f); return entries(c).filter(([k, v]) => !g(v, k, c)).map((e) => e[1]); },
    find: (c, f) => { const g = iteratee(f); const e = entries(c).find(([k, v]) => g(v, k, c)); return e && e[1]; },
    findIndex: (a, f) => { const g = iteratee(f); return (a || []).findIndex((v, i) => g(v, i, a)); },
    findKey: (o, f) => { const g = iteratee(f); const e = entries(o).find(([k, v]) => g(v, k, o)); return e && e[0]; },
    indexOf: (a, v) => (a || []).indexOf(v),
    lastIndexOf: (a, v) => (a || []).lastIndexOf(v),
    partition: (c, f) => {
      const g = iteratee(f), pass = [], fail = [];
      for (const [k, v] of entries(c)) (g(v, k, c) ? pass : fail).push(v);
      return [pass, fail];
    },
    property: (k) => (o) => (o === null || o === undefined ? undefined : o[k]),
    where: (c, props) => _.filter(c, props),
    findWhere: (c, props) => _.find(c, props),
    every: (c, f) => { const g = iteratee(f); return entries(c).every(([k, v]) => g(v, k, c)); },
    some: (c, f) => { const g = iteratee(f); return entries(c).some(([k, v]) => g(v, k, c)); },
    contains: (c, v) => valuesOf(c).indexOf(v) >= 0,
    pluck: (c, k) => valuesOf(c).map((v) => (v === null || v === undefined ? undefined : v[k])),
    max: (c, f) => extremum(c, f, (a, b) => a > b),
    min: (c, f) => extremum(c, f, (a, b) => a < b),
    sortBy: (c, f) => {
      const get = iteratee(f);
      return entries(c).map(([key, v], i) => ({ v: v, k: get(v, key, c), i: i }))
        .sort((a, b) => cmp(a.k, b.k) || a.i - b.i).map((e) => e.v);
    },
    groupBy: grouper((o, k, v) => { (o[k] = o[k] || []).push(v); }),
    indexBy: grouper((o, k, v) => { o[k] = v; }),
    countBy: grouper((o, k) => { o[k] = (o[k] || 0) + 1; }),
    size: (c) => (c === null || c === undefined ? 0 : isArrayLike(c) ? c.length : Object.keys(c).length),
    toArray: (c) => valuesOf(c),
    first: (a, n) => (n === undefined ? (a || [])[0] : (a || []).slice(0, n)),
    last: (a, n) => (n === undefined ? (a || [])[(a || []).length - 1] : (a || []).slice(Math.max(0, (a || []).length - n))),
    initial: (a, n) => (a || []).slice(0, Math.max(0, (a || []).length - (n === undefined ? 1 : n))),
    rest: (a, n) => (a || []).slice(n === undefined ? 1 : n),
    compact: (a) => (a || []).filter(Boolean),
    flatten: (a, shallow) => flat(a || [], !!shallow, []),
    without: (a, ...drop) => (a || []).filter((v) => drop.indexOf(v) < 0),
    uniq: uniq,
    union: (...lists) => uniq(flat(lists, true, [])),
    intersection: (a, ...others) => uniq(a).filter((v) => others.every((o) => (o || []).indexOf(v) >= 0)),
    difference: (a, ...others) => (a || []).filter((v) => !others.some((o) => (o || []).indexOf(v) >= 0)),
    zip: (...lists) => {
      const n = Math.max(0, ...lists.map((l) => (l || []).length));
      return Array.from({ length: n }, (_v, i) => lists.map((l) => (l || [])[i]));
    },
    object: (list, vals) => {
      const o = {};
      (list || []).forEach((e, i) => { if (vals) o[e] = vals[i]; else o[e[0]] = e[1]; });
      return o;
    },
    range: (start, stop, step) => {
      if (stop === undefined) { stop = start || 0; start = 0; }
      step = step || 1;
      const n = Math.max(Math.ceil((stop - start) / step), 0);
      return Array.from({ length: n }, (_v, i) => start + i * step);
    },
    keys: (o) => (o !== null && typeof o === "object" ? Object.keys(o) : []),
    values: (o) => valuesOf(o),
    pairs: (o) => _.keys(o).map((k) => [k, o[k]]),
    invert: (o) => { const out = {}; for (const k of _.keys(o)) out[o[k]] = k; return out; },
    mapObject: (o, f) => { const g = iteratee(f), out = {}; for (const k of _.keys(o)) out[k] = g(o[k], k, o); return out; },
    has: (o, k) => o !== null && o !== undefined && Object.prototype.hasOwnProperty.call(o, k),
    extend: (o, ...from) => { for (const f of from) for (const k in f) o[k] = f[k]; return o; },
    defaults: (o, ...from) => { for (const f of from) for (const k in f) if (o[k] === undefined) o[k] = f[k]; return o; },
    pick: (o, ...ks) => { const out = {}; for (const k of flat(ks, false, [])) if (o && k in o) out[k] = o[k]; return out; },
    omit: (o, ...ks) => { const drop = flat(ks, false, []), out = {}; for (const k of _.keys(o)) if (drop.indexOf(k) < 0) out[k] = o[k]; return out; },
    clone: (o) => (Array.isArray(o) ? o.slice() : o !== null && typeof o === "object" ? Object.assign({}, o) : o),
    isEqual: deepEqual,
    isEmpty: (o) => o === null || o === undefined || (isArrayLike(o) ? o.length === 0 : typeof o === "object" && Object.keys(o).length === 0),
    isArray: Array.isArray,
    isObject: (o) => (typeof o === "object" && o !== null) || typeof o === "function",
    isFunction: (o) => typeof o === "function",
    isString: (o) => typeof o === "string",
    isNumber: (o) => typeof o === "number",
    isFinite: (o) => typeof o === "number" && Number.isFinite(o),
    isBoolean: (o) => typeof o === "boolean",
    isDate: (o) => o instanceof Date,
    isNaN: (o) => typeof o === "number" && o !== o,
    isNull: (o) => o === null,
    isUndefined: (o) => o === undefined,
    identity: (v) => v,
    constant: (v) => () => v,
    noop: () => undefined,
    times: (n, f) => Array.from({ length: Math.max(0, n) }, (_v, i) => f(i)),
    chain: (o) => chain(o),
  });
  Object.assign(_, { forEach: _.each, collect: _.map, foldl: _.reduce, inject: _.reduce, select: _.filter,
    detect: _.find, all: _.every, any: _.some, includes: _.contains, head: _.first, take: _.first,
    tail: _.rest, unique: _.uniq, assign: _.extend });

  // `_.chain(x).f(...).g(...).value()`: each step applies `_.f` to the value so far.
  // Arrays' own methods chain too, as Underscore's do: the mutators (on a copy) chain
  // the array, `concat`, `join` and `slice` what they return.
  const MUTATORS = ["pop", "push", "reverse", "shift", "sort", "splice", "unshift"];
  const ACCESSORS = ["concat", "join", "slice"];
  function chain(value) {
    const wrapper = { value: () => value, chain: () => wrapper };
    for (const name of Object.keys(_)) {
      if (name !== "chain") wrapper[name] = (...args) => chain(_[name](value, ...args));
    }
    const list = () => (Array.isArray(value) ? value.slice() : []);
    for (const name of MUTATORS) {
      wrapper[name] = (...args) => { const copy = list(); copy[name](...args); return chain(copy); };
    }
    for (const name of ACCESSORS) wrapper[name] = (...args) => chain(list()[name](...args));
    return wrapper;
  }

  Object.freeze(_);
  global._ = _;
})(globalThis);

// The JQL library every script sees: the data sources, the collection and its
// transformations, `mixpanel.*`, and the executor the Rust side drives.
//
// `main()` only builds a plan: `Events()`, `People()` and `join()` describe a source,
// and each transformation appends a stage. The Rust side reads the source
// (`__sextant.plan()`), feeds its items in batches (`__sextant.push(json)`), and reads
// the answer (`__sextant.finish()`). Filters, maps and flattens stream; the first
// grouping keeps one accumulator per key, so memory grows with the number of groups,
// not of events. User functions are called on whole batches where the protocol allows
// (a reducer gets every item of its key in the batch at once).
"use strict";
(function (global) {
  const BATCH = 1000;
  // Captured now: a script that replaces JSON's functions breaks only itself.
  const parse = JSON.parse, stringify = JSON.stringify;

  // ---- values, paths and accessors -------------------------------------------------

  function pathGetter(path) {
    const parts = String(path).split(".");
    if (parts.length === 1) {
      const p = parts[0];
      return (item) => (item === null || item === undefined ? undefined : item[p]);
    }
    return function (item) {
      let v = item;
      for (let i = 0; i < parts.length; i++) {
        if (v === null || v === undefined) return undefined;
        v = v[parts[i]];
      }
      return v;
    };
  }

  function accessor(spec, what) {
    if (spec === undefined || spec === null) return (item) => item;
    if (typeof spec === "string") return pathGetter(spec);
    if (typeof spec === "function") return spec;
    throw new TypeError(what + " must be a property path (a string) or a function");
  }

  function isPlainObject(v) {
    return v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Date);
  }

  function numeric(v) {
    if (typeof v === "number") return Number.isFinite(v) ? v : undefined;
    if (v instanceof Date) return v.getTime() / 1000;
    return undefined;
  }

  // A total order over key and sort values: undefined and null, then booleans,
  // numbers, strings, then anything else (arrays element by element).
  function rank(v) {
    if (v === undefined || v === null) return 0;
    switch (typeof v) {
      case "boolean": return 1;
      case "number": return 2;
      case "string": return 3;
      default: return Array.isArray(v) ? 4 : 5;
    }
  }
  function compare(a, b) {
    const ra = rank(a), rb = rank(b);
    if (ra !== rb) return ra - rb;
    if (ra === 0) return 0;
    if (ra === 4) {
      const n = Math.min(a.length, b.length);
      for (let i = 0; i < n; i++) {
        const c = compare(a[i], b[i]);
        if (c !== 0) return c;
      }
      return a.length - b.length;
    }
    if (ra === 5) {
      const sa = stringify(a), sb = stringify(b);
      return sa < sb ? -1 : sa > sb ? 1 : 0;
    }
    return a < b ? -1 : a > b ? 1 : 0;
  }

  // ---- group keys -------------------------------------------------------------------

  function keyValue(v) {
    if (v === undefined || v === null) return null;
    const t = typeof v;
    if (t === "string" || t === "number" || t === "boolean") return v;
    if (v instanceof Date) return v.getTime();
    // A list is kept as one component: the key of a sequence of values.
    if (Array.isArray(v)) return v.map(keyValue);
    throw new TypeError("a group key must be a string, number, boolean, null or a list of them, not " + stringify(v));
  }

  function keyPart(spec, multi) {
    if (spec && spec.__multiple_keys) throw new TypeError("mixpanel.multiple_keys() cannot be nested");
    if (typeof spec === "function" && spec.__slice) return { get: spec, splice: true, multi: false, spec: null };
    return { get: accessor(spec, "a group key"), splice: false, multi: multi, spec: spec };
  }

  function keyParts(keys) {
    if (keys && keys.__multiple_keys) return keys.keys.map((k) => keyPart(k, true));
    const list = Array.isArray(keys) ? keys : [keys];
    const parts = [];
    for (const k of list) {
      if (k && k.__multiple_keys) for (const inner of k.keys) parts.push(keyPart(inner, true));
      else parts.push(keyPart(k, false));
    }
    return parts;
  }

  // Every key `item` falls under: one, or several where a multiple_keys part holds a
  // list (none when that list is empty).
  function keysOf(parts, item, prefix) {
    let out = [prefix];
    for (const p of parts) {
      const v = p.get(item);
      if (p.splice) {
        const extra = Array.isArray(v) ? v.map(keyValue) : [keyValue(v)];
        out = out.map((k) => k.concat(extra));
      } else if (p.multi && Array.isArray(v)) {
        const seen = new Set();
        const values = [];
        for (const e of v) {
          const kv = keyValue(e);
          const id = stringify(kv);
          if (!seen.has(id)) { seen.add(id); values.push(kv); }
        }
        const next = [];
        for (const k of out) for (const e of values) next.push(k.concat([e]));
        out = next;
      } else {
        const kv = keyValue(v);
        out = out.map((k) => k.concat([kv]));
      }
    }
    return out;
  }

  // ---- reducers ---------------------------------------------------------------------

  // A built-in: `init()`, `add(acc, items)` and `result(acc)`. A user function
  // `f(accumulators, items)` is wrapped with the same shape; for groupByUser it is
  // `f(state, events)` instead.
  function builtin(name, init, add, result) {
    return { __builtin: name, init: init, add: add, result: result || ((acc) => acc) };
  }

  // Marks a built-in the store can compute itself, described by `what`.
  function native(what, r) {
    r.native = what;
    return r;
  }

  function userReducer(f) {
    return builtin("user", () => undefined, (acc, items) => f(acc === undefined ? [] : [acc], items));
  }

  function userFold(f) {
    return builtin("user", () => undefined, (state, events) => f(state, events));
  }

  function reducerList(spec, byUser) {
    const single = !Array.isArray(spec);
    const list = (single ? [spec] : spec).map(function (r) {
      if (r && r.__builtin) return r;
      if (typeof r === "function") return byUser ? userFold(r) : userReducer(r);
      throw new TypeError("a reducer must be a function or a mixpanel.reducer built-in");
    });
    if (list.length === 0) throw new TypeError("a list of reducers must not be empty");
    return { single: single, list: list };
  }

  function numbers(get, items, each) {
    for (let i = 0; i < items.length; i++) {
      const v = numeric(get(items[i]));
      if (v !== undefined) each(v, items[i]);
    }
  }

  function percentile(sorted, p) {
    if (sorted.length === 0) return null;
    // Nearest rank: the smallest value with at least p% of the values at or below it.
    const rankAt = Math.ceil((p / 100) * sorted.length);
    return sorted[Math.min(sorted.length, Math.max(1, rankAt)) - 1];
  }

  function mergeObjects(into, from) {
    for (const k of Object.keys(from)) {
      const a = into[k], b = from[k];
      if (typeof a === "number" && typeof b === "number") into[k] = a + b;
      else if (isPlainObject(a) && isPlainObject(b)) mergeObjects(a, b);
      else if (isPlainObject(b)) into[k] = mergeObjects({}, b);
      else into[k] = b;
    }
    return into;
  }

  const reducer = {
    count: function (options) {
      const sampled = !!(options && options.account_for_sampling);
      // Stored events are never sampled (sampling_factor 1): both forms count events.
      return native({ kind: "count" }, builtin("count", () => 0, function (acc, items) {
        if (!sampled) return acc + items.length;
        for (const it of items) {
          const f = it && typeof it.sampling_factor === "number" && it.sampling_factor > 0 ? it.sampling_factor : 1;
          acc += 1 / f;
        }
        return acc;
      }));
    },
    sum: function (acc) {
      const get = accessor(acc, "sum()'s accessor");
      const r = builtin("sum", () => 0, function (s, items) {
        numbers(get, items, (v) => { s += v; });
        return s;
      });
      // A sum of one top-level property can be the store's.
      return typeof acc === "string" && /^properties\.[^.]+$/.test(acc) ? native({ kind: "sum", property: acc.slice(11) }, r) : r;
    },
    avg: function (acc) {
      const get = accessor(acc, "avg()'s accessor");
      return builtin("avg", () => ({ sum: 0, count: 0 }), function (a, items) {
        numbers(get, items, (v) => { a.sum += v; a.count += 1; });
        return a;
      }, (a) => (a.count === 0 ? null : a.sum / a.count));
    },
    min: function (acc) {
      const get = accessor(acc, "min()'s accessor");
      return builtin("min", () => null, function (m, items) {
        numbers(get, items, (v) => { if (m === null || v < m) m = v; });
        return m;
      });
    },
    max: function (acc) {
      const get = accessor(acc, "max()'s accessor");
      return builtin("max", () => null, function (m, items) {
        numbers(get, items, (v) => { if (m === null || v > m) m = v; });
        return m;
      });
    },
    min_by: function (acc) {
      const get = accessor(acc, "min_by()'s accessor");
      return builtin("min_by", () => null, function (m, items) {
        numbers(get, items, (v, it) => { if (m === null || v < m.v) m = { v: v, item: it }; });
        return m;
      }, (m) => (m === null ? null : m.item));
    },
    max_by: function (acc) {
      const get = accessor(acc, "max_by()'s accessor");
      return builtin("max_by", () => null, function (m, items) {
        numbers(get, items, (v, it) => { if (m === null || v > m.v) m = { v: v, item: it }; });
        return m;
      }, (m) => (m === null ? null : m.item));
    },
    numeric_summary: function (acc) {
      const get = accessor(acc, "numeric_summary()'s accessor");
      return builtin("numeric_summary", () => ({ count: 0, sum: 0, sum_squares: 0 }), function (s, items) {
        numbers(get, items, (v) => { s.count += 1; s.sum += v; s.sum_squares += v * v; });
        return s;
      }, function (s) {
        const avg = s.count === 0 ? 0 : s.sum / s.count;
        const variance = s.count === 0 ? 0 : Math.max(0, s.sum_squares / s.count - avg * avg);
        return { count: s.count, sum: s.sum, sum_squares: s.sum_squares, avg: avg, stddev: Math.sqrt(variance) };
      });
    },
    numeric_percentiles: function (acc, percentiles) {
      const get = accessor(acc, "numeric_percentiles()'s accessor");
      const list = Array.isArray(percentiles) ? percentiles : [percentiles];
      for (const p of list) {
        if (typeof p !== "number" || !(p >= 0 && p <= 100)) {
          throw new TypeError("numeric_percentiles() takes a percentile, or a list of them, between 0 and 100");
        }
      }
      return builtin("numeric_percentiles", () => [], function (values, items) {
        numbers(get, items, (v) => { values.push(v); });
        return values;
      }, function (values) {
        const sorted = values.slice().sort((a, b) => a - b);
        if (!Array.isArray(percentiles)) return percentile(sorted, percentiles);
        return percentiles.map((p) => ({ percentile: p, value: percentile(sorted, p) }));
      });
    },
    top: function (n) {
      if (typeof n !== "number" || !(n >= 1)) throw new TypeError("top() takes a count of at least 1");
      const keep = Math.floor(n);
      return builtin("top", () => [], function (best, items) {
        for (const it of items) {
          if (!it || !("key" in it) || !("value" in it)) throw new TypeError("top() reduces groupBy() results: {key, value} items");
          best.push(it);
        }
        best.sort((a, b) => compare(b.value, a.value));
        if (best.length > keep) best.length = keep;
        return best;
      });
    },
    object_merge: function () {
      return builtin("object_merge", () => ({}), function (into, items) {
        for (const it of items) if (isPlainObject(it)) mergeObjects(into, it);
        return into;
      });
    },
    any: function () {
      return builtin("any", () => undefined, (a, items) => (a === undefined && items.length > 0 ? items[0] : a),
        (a) => (a === undefined ? null : a));
    },
    null: function () {
      return builtin("null", () => null, () => null);
    },
    noop: function () {
      return builtin("noop", () => null, () => null);
    },
  };

  // ---- mappers ----------------------------------------------------------------------

  const DAY = 86400000;
  function timeBucket(unit) {
    return { __time_bucket: unit };
  }
  function bucketTime(v, unit) {
    const d = new Date(v);
    if (Number.isNaN(d.getTime())) return null;
    switch (unit) {
      case "day": return Math.floor(v / DAY) * DAY;
      // Epoch day 0 was a Thursday: weeks start on the Monday 3 days before.
      case "week": return Math.floor((v + 3 * DAY) / (7 * DAY)) * 7 * DAY - 3 * DAY;
      case "month": return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
      case "quarter": return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - (d.getUTCMonth() % 3), 1);
      default: return Date.UTC(d.getUTCFullYear(), 0, 1);
    }
  }

  function numericBucket(acc, spec) {
    const get = accessor(acc, "numeric_bucket()'s accessor");
    let bucket;
    if (Array.isArray(spec)) {
      if (spec.length === 0 || spec.some((b) => typeof b !== "number")) {
        throw new TypeError("numeric_bucket() takes a list of numbers, {bucket_size, offset} or a time bucket");
      }
      const bounds = spec.slice().sort((a, b) => a - b);
      bucket = function (v) {
        // Below the first bound a value is in no bucket.
        let found = null;
        for (const b of bounds) { if (b <= v) found = b; else break; }
        return found;
      };
    } else if (spec && spec.__time_bucket) {
      bucket = (v) => bucketTime(v, spec.__time_bucket);
    } else if (spec && typeof spec.bucket_size === "number" && spec.bucket_size > 0) {
      const size = spec.bucket_size, offset = typeof spec.offset === "number" ? spec.offset : 0;
      bucket = (v) => offset + Math.floor((v - offset) / size) * size;
    } else {
      throw new TypeError("numeric_bucket() takes a list of numbers, {bucket_size, offset} or a time bucket");
    }
    // Time buckets read epoch milliseconds (a Date's too); other specs read numbers.
    const value = spec && spec.__time_bucket ? (v) => (v instanceof Date ? v.getTime() : numeric(v)) : numeric;
    return function (item) {
      const v = value(get(item));
      return v === undefined ? null : bucket(v);
    };
  }

  function toNumber(acc) {
    const get = accessor(acc, "to_number()'s accessor");
    return function (item) {
      const v = get(item);
      if (typeof v === "number") return Number.isFinite(v) ? v : undefined;
      if (typeof v === "boolean") return v ? 1 : 0;
      if (v instanceof Date) return v.getTime() / 1000;
      if (typeof v === "string" && v.trim() !== "") {
        const n = Number(v);
        return Number.isFinite(n) ? n : undefined;
      }
      return undefined;
    };
  }

  function slice(acc, start, limit) {
    const get = accessor(acc, "slice()'s accessor");
    const f = function (item) {
      const v = get(item);
      if (!Array.isArray(v)) return [v];
      return v.slice(start || 0, limit === undefined ? undefined : limit);
    };
    f.__slice = true;
    return f;
  }

  function multipleKeys(keys) {
    if (!Array.isArray(keys)) keys = [keys];
    return { __multiple_keys: true, keys: keys };
  }

  // ---- stages -----------------------------------------------------------------------

  // Each stage takes batches (`push`) and is told when its input ends (`finish`).
  class Sink {
    constructor() { this.items = []; }
    push(items) { for (const it of items) this.items.push(it); }
    finish() {}
  }

  class Streaming {
    constructor(next, each) { this.next = next; this.each = each; }
    push(items) { const out = this.each(items); if (out.length) this.next.push(out); }
    finish() { this.next.finish(); }
  }

  function filterStage(next, fn) {
    return new Streaming(next, function (items) {
      const out = [];
      for (const it of items) if (fn(it)) out.push(it);
      return out;
    });
  }
  function mapStage(next, fn) {
    return new Streaming(next, function (items) {
      const out = new Array(items.length);
      for (let i = 0; i < items.length; i++) out[i] = fn(items[i]);
      return out;
    });
  }
  function flattenStage(next) {
    return new Streaming(next, function (items) {
      const out = [];
      for (const it of items) {
        if (Array.isArray(it)) for (const e of it) out.push(e);
        else out.push(it);
      }
      return out;
    });
  }

  function emitInBatches(next, out) {
    for (let i = 0; i < out.length; i += BATCH) next.push(out.slice(i, i + BATCH));
    next.finish();
  }

  // groupBy and groupByUser: one accumulator per key and reducer.
  class Grouping {
    constructor(next, parts, reducers, byUser) {
      this.next = next; this.parts = parts; this.reducers = reducers; this.byUser = byUser;
      this.groups = new Map();
    }
    push(items) {
      // Every item of a key in this batch goes to its reducers in one call.
      const batch = new Map();
      for (const it of items) {
        let prefix = [];
        if (this.byUser) {
          const id = it === null || it === undefined ? undefined : it.distinct_id;
          if (id === undefined || id === null) continue;
          prefix = [id];
        }
        for (const key of keysOf(this.parts, it, prefix)) {
          const id = stringify(key);
          let b = batch.get(id);
          if (!b) { b = { key: key, items: [] }; batch.set(id, b); }
          b.items.push(it);
        }
      }
      for (const [id, b] of batch) {
        let g = this.groups.get(id);
        if (!g) {
          g = { key: b.key, accs: this.reducers.list.map((r) => r.init()) };
          this.groups.set(id, g);
        }
        for (let i = 0; i < this.reducers.list.length; i++) {
          g.accs[i] = this.reducers.list[i].add(g.accs[i], b.items);
        }
      }
    }
    finish() {
      const out = [];
      for (const g of this.groups.values()) {
        const values = g.accs.map((acc, i) => this.reducers.list[i].result(acc));
        out.push({ key: g.key, value: this.reducers.single ? values[0] : values });
      }
      this.groups = null;
      out.sort((a, b) => compare(a.key, b.key));
      emitInBatches(this.next, out);
    }
  }

  class Reduction {
    constructor(next, reducers) {
      this.next = next; this.reducers = reducers;
      this.accs = reducers.list.map((r) => r.init());
    }
    push(items) {
      for (let i = 0; i < this.reducers.list.length; i++) this.accs[i] = this.reducers.list[i].add(this.accs[i], items);
    }
    finish() {
      const values = this.accs.map((acc, i) => this.reducers.list[i].result(acc));
      this.next.push([this.reducers.single ? values[0] : values]);
      this.next.finish();
    }
  }

  class Buffered {
    constructor(next, all) { this.next = next; this.all = all; this.items = []; }
    push(items) { for (const it of items) this.items.push(it); }
    finish() { const out = this.all(this.items); this.items = null; emitInBatches(this.next, out); }
  }

  function sortStage(next, acc, descending) {
    const get = accessor(acc, "the sort key");
    return new Buffered(next, function (items) {
      const keyed = items.map((it, i) => ({ k: get(it), i: i, it: it }));
      keyed.sort(function (a, b) {
        const c = descending ? compare(b.k, a.k) : compare(a.k, b.k);
        return c !== 0 ? c : a.i - b.i;
      });
      return keyed.map((e) => e.it);
    });
  }

  // Keeps, at each level of the key, the `limits[level]` children with the largest
  // values (a group's value is the sum of its rows' numeric values, or their count),
  // then at most `globalLimit` rows; rows keep their order.
  function groupLimitsStage(next, limits, globalLimit) {
    if (!Array.isArray(limits) || limits.some((n) => typeof n !== "number" || n < 0)) {
      throw new TypeError("applyGroupLimits() takes a list of counts, one per key level");
    }
    return new Buffered(next, function (rows) {
      const weight = (r) => (typeof r.value === "number" ? r.value : 1);
      let kept = rows.filter((r) => r && Array.isArray(r.key));
      for (let level = 0; level < limits.length; level++) {
        const totals = new Map();
        for (const r of kept) {
          const id = stringify(r.key.slice(0, level + 1));
          const parent = stringify(r.key.slice(0, level));
          const t = totals.get(id) || { parent: parent, total: 0 };
          t.total += weight(r);
          totals.set(id, t);
        }
        const byParent = new Map();
        for (const [id, t] of totals) {
          const list = byParent.get(t.parent) || [];
          list.push({ id: id, total: t.total });
          byParent.set(t.parent, list);
        }
        const allowed = new Set();
        for (const list of byParent.values()) {
          list.sort((a, b) => b.total - a.total);
          for (const e of list.slice(0, limits[level])) allowed.add(e.id);
        }
        kept = kept.filter((r) => allowed.has(stringify(r.key.slice(0, level + 1))));
      }
      if (typeof globalLimit === "number" && kept.length > globalLimit) {
        const order = kept.map((r, i) => ({ r: r, i: i })).sort((a, b) => weight(b.r) - weight(a.r) || a.i - b.i);
        const keep = new Set(order.slice(0, globalLimit).map((e) => e.i));
        kept = kept.filter((_r, i) => keep.has(i));
      }
      return kept;
    });
  }

  // ---- collections ------------------------------------------------------------------

  function need(cond, message) {
    if (!cond) throw new TypeError(message);
  }

  function deepFreeze(o) {
    if (o !== null && typeof o === "object" && !Object.isFrozen(o)) {
      for (const k of Object.keys(o)) deepFreeze(o[k]);
      Object.freeze(o);
    }
    return o;
  }

  class Collection {
    // A collection and its source cannot be changed once made: what `main()` returns is
    // what was checked.
    constructor(source, stages) {
      this.source = deepFreeze(source);
      this.stages = Object.freeze(stages || []);
      Object.freeze(this);
    }
    then(stage) { return new Collection(this.source, this.stages.concat([stage])); }
    filter(fn) { need(typeof fn === "function", "filter() takes a function"); return this.then({ op: "filter", fn: fn }); }
    map(fn) {
      need(typeof fn === "function" || typeof fn === "string", "map() takes a function");
      return this.then({ op: "map", fn: accessor(fn, "map()'s argument") });
    }
    flatten() { return this.then({ op: "flatten" }); }
    reduce(r) { return this.then({ op: "reduce", reducers: reducerList(r, false) }); }
    groupBy(keys, r) {
      need(keys !== undefined, "groupBy() takes a list of keys and a reducer");
      return this.then({ op: "groupBy", parts: keyParts(keys), reducers: reducerList(r, false) });
    }
    groupByUser(keys, r) {
      if (r === undefined) { r = keys; keys = []; }
      const direct = this.stages.length === 0 || (this.stages.length === 1 && this.stages[0].op === "filter");
      need(direct, "groupByUser() must come right after Events(), People() or join(), or after one filter() on them");
      return this.then({ op: "groupByUser", parts: keyParts(keys), reducers: reducerList(r, true) });
    }
    sortAsc(acc) { return this.then({ op: "sort", acc: acc, descending: false }); }
    sortDesc(acc) { return this.then({ op: "sort", acc: acc, descending: true }); }
    applyGroupLimits(limits, globalLimit) { return this.then({ op: "limits", limits: limits, global: globalLimit }); }
  }

  function pipeline(stages) {
    const sink = new Sink();
    let next = sink;
    for (let i = stages.length - 1; i >= 0; i--) {
      const s = stages[i];
      switch (s.op) {
        case "filter": next = filterStage(next, s.fn); break;
        case "map": next = mapStage(next, s.fn); break;
        case "flatten": next = flattenStage(next); break;
        case "reduce": next = new Reduction(next, s.reducers); break;
        case "groupBy": next = new Grouping(next, s.parts, s.reducers, false); break;
        case "groupByUser": next = new Grouping(next, s.parts, s.reducers, true); break;
        case "sort": next = sortStage(next, s.acc, s.descending); break;
        case "limits": next = groupLimitsStage(next, s.limits, s.global); break;
      }
    }
    return { head: next, sink: sink };
  }

  function dateOption(options, name) {
    const v = options[name];
    need(typeof v === "string" && v.length >= 10, "Events() needs " + name + " as \"YYYY-MM-DD\"");
    return v.slice(0, 10);
  }

  function selectors(list, what, fields) {
    if (list === undefined || list === null) return [];
    need(Array.isArray(list), what + " must be a list");
    return list.map(function (s) {
      need(isPlainObject(s), what + " must be a list of objects");
      const out = {};
      for (const f of fields) {
        if (s[f] !== undefined && s[f] !== null) {
          need(typeof s[f] === "string", what + "' " + f + " must be a string");
          out[f] = s[f];
        }
      }
      return out;
    });
  }

  function Events(options) {
    need(isPlainObject(options), "Events() takes {from_date, to_date, event_selectors}");
    return new Collection({
      kind: "events",
      from_date: dateOption(options, "from_date"),
      to_date: dateOption(options, "to_date"),
      event_selectors: selectors(options.event_selectors, "event_selectors", ["event", "selector", "label"]),
    });
  }

  function People(options) {
    options = options === undefined ? {} : options;
    need(isPlainObject(options), "People() takes {user_selectors}");
    return new Collection({
      kind: "people",
      user_selectors: selectors(options.user_selectors, "user_selectors", ["selector"]),
    });
  }

  function join(events, people, options) {
    options = options === undefined ? {} : options;
    const bare = (c, kind) => c instanceof Collection && c.source.kind === kind && c.stages.length === 0;
    need(bare(events, "events") && bare(people, "people"),
      "join() takes Events(...) and People(...) themselves, without transformations");
    need(isPlainObject(options), "join()'s options must be an object");
    const type = options.type === undefined ? "full" : options.type;
    need(["full", "left", "right", "inner"].indexOf(type) >= 0, "join()'s type must be full, left, right or inner");
    return new Collection({
      kind: "join",
      events: events.source,
      people: people.source,
      type: type,
      selectors: selectors(options.selectors, "join selectors", ["event", "selector"]),
    });
  }

  // ---- what the Rust side calls -----------------------------------------------------

  let run = null;
  let stages = null;

  // `Events(...).groupBy(["name"], built-ins the store computes)`: what the store is
  // asked instead of running the stage here.
  function nativeGroupBy(c) {
    const s = c.stages[0];
    if (c.source.kind !== "events" || !s || s.op !== "groupBy") return null;
    if (s.parts.length !== 1 || s.parts[0].spec !== "name" || s.parts[0].multi) return null;
    const reducers = [];
    for (const r of s.reducers.list) {
      if (!r.native) return null;
      reducers.push(r.native);
    }
    return { reducers: reducers, single: s.reducers.single };
  }
  const DATE_TEXT = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/;

  // Profile properties of Mixpanel's date type reach scripts as Date objects.
  function reviveDates(user) {
    if (!user || !isPlainObject(user.properties)) return;
    const p = user.properties;
    for (const k of Object.keys(p)) {
      const v = p[k];
      if (typeof v === "string" && v.length === 19 && DATE_TEXT.test(v)) p[k] = new Date(v + "Z");
    }
  }

  const sextant = {
    plan: function () {
      need(typeof global.main === "function", "the script must define a function main()");
      const c = global.main();
      need(c instanceof Collection, "main() must return a collection built from Events(), People() or join()");
      stages = c.stages;
      run = pipeline(stages);
      return stringify({ source: c.source, native: nativeGroupBy(c) });
    },
    // The store answered the first stage (a native groupBy): its rows go to the rest.
    skipFirstStage: function () {
      run = pipeline(stages.slice(1));
    },
    // `kind`: 0 events, 1 profiles, 2 join items. `partial`: the events carry only the
    // properties the script names (the Rust side's `projection`): each such properties
    // object is marked, so that `finish` can tell whether one reached the answer.
    push: function (json, kind, partial) {
      const items = parse(json);
      if (kind === 1) for (const u of items) reviveDates(u);
      if (kind === 2) for (const it of items) reviveDates(it.user);
      if (partial && kind === 0) for (const e of items) markPartial(e);
      if (partial && kind === 2) for (const it of items) if (it.event) markPartial(it.event);
      sawPartial = sawPartial || (partial && kind !== 1);
      run.head.push(items);
    },
    // The answer as JSON, or null when it holds a partial properties object.
    finish: function () {
      run.head.finish();
      let out;
      try {
        out = sawPartial ? stringify(run.sink.items, refusePartial) : stringify(run.sink.items);
      } catch (e) {
        if (e === PARTIAL) return null;
        throw e;
      }
      run = null;
      return typeof out === "string" ? out : "[]";
    },
  };

  const PARTIAL = Symbol("partial");
  let sawPartial = false;
  function markPartial(e) {
    if (e && e.properties !== null && typeof e.properties === "object") {
      Object.defineProperty(e.properties, PARTIAL, { value: true });
    }
  }
  function refusePartial(_key, value) {
    if (value !== null && typeof value === "object" && value[PARTIAL] === true) throw PARTIAL;
    return value;
  }

  const mixpanel = {
    reducer: reducer,
    numeric_bucket: numericBucket,
    to_number: toNumber,
    slice: slice,
    multiple_keys: multipleKeys,
    daily_time_buckets: timeBucket("day"),
    weekly_time_buckets: timeBucket("week"),
    monthly_time_buckets: timeBucket("month"),
    quarterly_time_buckets: timeBucket("quarter"),
    annual_time_buckets: timeBucket("year"),
  };
  Object.freeze(reducer);
  Object.freeze(mixpanel);

  global.Events = Events;
  global.People = People;
  global.join = join;
  global.mixpanel = mixpanel;
  Object.defineProperty(global, "__sextant", { value: Object.freeze(sextant), enumerable: false });
})(globalThis);

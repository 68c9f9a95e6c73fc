// `_(x).f()` answers plainly, `_.chain` chains (array methods too), iteratees get the index.
function main() {
  return People().reduce(mixpanel.reducer.count()).map(function () {
    return [
      _([3, 1, 2]).sortBy(_.identity),
      _.chain([1, 3, 2]).sortBy(_.identity).reverse().first(2).value(),
      _.filter(["a", "b", "c"], function (v, i) { return i > 0; }),
      _.uniq([1, 1, 2], true),
      _.partition([1, 2, 3, 4], function (n) { return n % 2 == 0; }),
    ];
  });
}

// A reducer function gets earlier results and new items.
function main() {
  return Events({from_date: "2024-01-01", to_date: "2024-01-03"}).groupBy(["name"], function (accumulators, items) {
    var n = 0;
    for (var i = 0; i < accumulators.length; i++) n += accumulators[i];
    return n + items.length;
  });
}

// The groupBy of count_by_name, with a key the store cannot compute: run by the engine.
function main() {
  return Events({from_date: "2024-01-01", to_date: "2024-01-03"})
    .groupBy([function (e) { return e.name; }], [mixpanel.reducer.count(), mixpanel.reducer.sum("properties.amount")]);
}

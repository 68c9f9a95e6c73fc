// Numeric leaves are summed, objects merged deeply.
function main() {
  return Events({from_date: "2024-01-01", to_date: "2024-01-03", event_selectors: [{event: "purchase"}]})
    .map(function (e) { var by = {}; by[e.distinct_id] = 1; return {n: 1, amount: e.properties.amount, by: by}; })
    .reduce(mixpanel.reducer.object_merge());
}

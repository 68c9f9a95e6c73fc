// The documented example: events per user, then their median, flattened.
function main() {
  return Events({from_date: "2024-01-01", to_date: "2024-01-03"})
    .groupByUser(mixpanel.reducer.count())
    .reduce(mixpanel.reducer.numeric_percentiles("value", [50]))
    .flatten();
}

// Population standard deviation: sqrt(66000 / 5 - 100^2).
function main() {
  return Events({from_date: "2024-01-01", to_date: "2024-01-03", event_selectors: [{event: "view"}]}).reduce(mixpanel.reducer.numeric_summary("properties.ms"));
}

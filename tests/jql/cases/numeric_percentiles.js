// Nearest rank over 40, 60, 80, 120, 200.
function main() {
  return Events({from_date: "2024-01-01", to_date: "2024-01-03", event_selectors: [{event: "view"}]})
    .reduce(mixpanel.reducer.numeric_percentiles("properties.ms", [25, 50, 90]));
}

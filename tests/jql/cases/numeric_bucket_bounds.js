function main() {
  return Events({from_date: "2024-01-01", to_date: "2024-01-03", event_selectors: [{event: "view"}]})
    .groupBy([mixpanel.numeric_bucket("properties.ms", [0, 50, 100, 150])], mixpanel.reducer.count());
}

function main() {
  return Events({from_date: "2024-01-01", to_date: "2024-01-03", event_selectors: [{event: "view"}]})
    .groupBy(["properties.page"], mixpanel.reducer.count())
    .reduce(mixpanel.reducer.top(1));
}

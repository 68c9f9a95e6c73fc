// Without multiple_keys a list is one key component: the sequence.
function main() {
  return Events({from_date: "2024-01-01", to_date: "2024-01-03", event_selectors: [{event: "signup"}]})
    .groupBy(["properties.campaigns"], mixpanel.reducer.count());
}

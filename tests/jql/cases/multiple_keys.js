// One group per list element; an empty list falls in no group.
function main() {
  return Events({from_date: "2024-01-01", to_date: "2024-01-03", event_selectors: [{event: "signup"}]})
    .groupBy(mixpanel.multiple_keys(["properties.campaigns"]), mixpanel.reducer.count());
}

// Mixpanel's unique-users pattern: groupByUser, then drop the user from the key.
function main() {
  return Events({from_date: "2024-01-01", to_date: "2024-01-03", event_selectors: [{event: "view"}]})
    .groupByUser(["properties.page"], mixpanel.reducer.noop())
    .groupBy([mixpanel.slice("key", 1)], mixpanel.reducer.count());
}

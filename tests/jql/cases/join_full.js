function main() {
  return join(Events({from_date: "2024-01-01", to_date: "2024-01-03", event_selectors: [{event: "view"}]}), People()).reduce(mixpanel.reducer.count());
}

function main() {
  return Events({from_date: "2024-01-01", to_date: "2024-01-03", event_selectors: [{event: "purchase"}]})
    .map(e => ({text: String(e.properties.amount)}))
    .reduce(mixpanel.reducer.sum(mixpanel.to_number("text")));
}

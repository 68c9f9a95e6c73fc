function main() {
  var purchases = Events({from_date: "2024-01-01", to_date: "2024-01-03", event_selectors: [{event: "purchase"}]});
  return purchases.reduce([mixpanel.reducer.min_by("properties.amount"), mixpanel.reducer.max_by("properties.amount")])
    .map(pair => pair.map(e => [e.distinct_id, e.properties.amount]));
}

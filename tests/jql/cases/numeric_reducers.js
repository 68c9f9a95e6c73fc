function main() {
  var amount = "properties.amount";
  return Events({from_date: "2024-01-01", to_date: "2024-01-03", event_selectors: [{event: "purchase"}]}).reduce([
    mixpanel.reducer.sum(amount), mixpanel.reducer.avg(amount), mixpanel.reducer.min(amount), mixpanel.reducer.max(amount),
  ]);
}

function main() {
  return Events({from_date: params.from, to_date: params.to, event_selectors: [{event: params.event}]})
    .reduce(mixpanel.reducer.count());
}

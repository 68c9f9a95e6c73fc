function main() {
  return Events({from_date: "2024-01-01", to_date: "2024-01-03", event_selectors: [{event: "signup"}]})
    .map(e => _.chain(e.properties.campaigns).union(["z"]).sortBy(_.identity).value());
}

// Every event; guest7 has no profile.
function main() {
  return join(Events({from_date: "2024-01-01", to_date: "2024-01-03", event_selectors: [{event: "view"}]}), People(), {type: "left"})
    .map(x => [x.distinct_id, x.user ? x.user.properties.plan : null]);
}

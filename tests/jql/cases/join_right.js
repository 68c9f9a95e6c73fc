// Every profile: with its events, or alone (u4 has none).
function main() {
  return join(Events({from_date: "2024-01-01", to_date: "2024-01-03", event_selectors: [{event: "view"}]}), People(), {type: "right"})
    .map(x => x.distinct_id + ":" + (x.event ? x.event.name : "-"));
}

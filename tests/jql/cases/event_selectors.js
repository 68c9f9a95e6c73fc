// Any selector may match: an event name with an expression over its properties.
function main() {
  return Events({from_date: "2024-01-01", to_date: "2024-01-03", event_selectors: [
    {event: "purchase", selector: 'properties["amount"] > 15'},
    {event: "view", selector: 'properties["page"] == "home"'},
  ]}).groupBy(["name"], mixpanel.reducer.count());
}

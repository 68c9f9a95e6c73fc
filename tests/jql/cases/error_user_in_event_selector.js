function main() {
  return Events({from_date: "2024-01-01", to_date: "2024-01-03", event_selectors: [{selector: "user[\"plan\"] == \"pro\""}]});
}

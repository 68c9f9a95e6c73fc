function main() {
  return join(Events({from_date: "2024-01-01", to_date: "2024-01-03"}), People(), {
    type: "inner",
    selectors: [{selector: 'user["plan"] == "pro" and properties["amount"] > 25'}],
  }).map(x => x.event.properties.amount);
}

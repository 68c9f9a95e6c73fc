function main() {
  return join(Events({from_date: "2024-01-01", to_date: "2024-01-03"}).filter(e => true), People());
}

function main() {
  return Events({from_date: "2024-01-02", to_date: "2024-01-02"}).reduce(mixpanel.reducer.count());
}

// What main() returns is what Events() checked: its source cannot be changed.
function main() {
  var c = Events({from_date: "2024-01-02", to_date: "2024-01-02"});
  c.source.from_date = "1900-01-01";
  return c.reduce(mixpanel.reducer.count());
}

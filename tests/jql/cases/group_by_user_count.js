// The key starts with the user; the second copy of e5 counts once.
function main() {
  return Events({from_date: "2024-01-01", to_date: "2024-01-03"}).groupByUser(mixpanel.reducer.count());
}

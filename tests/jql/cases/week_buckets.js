function main() {
  return Events({from_date: "2024-01-01", to_date: "2024-01-03"}).groupBy([mixpanel.numeric_bucket("time", mixpanel.weekly_time_buckets)], mixpanel.reducer.count());
}

// 2024-01-01 is a Monday: three days, one week.
function main() {
  var events = Events({from_date: "2024-01-01", to_date: "2024-01-03"});
  var byDay = events.groupBy([mixpanel.numeric_bucket("time", mixpanel.daily_time_buckets)], mixpanel.reducer.count());
  return byDay;
}

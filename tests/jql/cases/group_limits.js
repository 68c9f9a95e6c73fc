// The two busiest events, and each one's busiest user.
function main() {
  return Events({from_date: "2024-01-01", to_date: "2024-01-03"}).groupBy(["name", "distinct_id"], mixpanel.reducer.count()).applyGroupLimits([2, 1]);
}

// A Date property bucketed by month; profiles without it have no bucket.
function main() {
  return People().groupBy([mixpanel.numeric_bucket("properties.signup_date", mixpanel.monthly_time_buckets)], mixpanel.reducer.count());
}

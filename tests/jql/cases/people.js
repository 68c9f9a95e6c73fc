function main() {
  return People().map(u => ({id: u.distinct_id, plan: u.properties.plan})).sortAsc("id");
}

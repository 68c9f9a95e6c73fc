function main() {
  return People({user_selectors: [{selector: 'user["age"] > 30'}]}).reduce(mixpanel.reducer.count());
}

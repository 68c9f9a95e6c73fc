// A blank selector matches every profile.
function main() {
  return People({user_selectors: [{selector: ""}, {selector: "user[\"age\"] > 100"}]}).reduce(mixpanel.reducer.count());
}

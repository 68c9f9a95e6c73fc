// Date-typed profile properties arrive as Date objects.
function main() {
  return People().filter(u => u.properties.signup_date instanceof Date).map(u => u.properties.signup_date.getTime());
}

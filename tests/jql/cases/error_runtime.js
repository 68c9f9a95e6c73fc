function main() {
  var nothing;
  return nothing.field;
}

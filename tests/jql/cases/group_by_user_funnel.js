// A two-step funnel, purchase then view, folded over each user's events in time order.
function main() {
  return Events({from_date: "2024-01-01", to_date: "2024-01-03"})
    .groupByUser(function (state, events) {
      state = state || {step: 0};
      for (var i = 0; i < events.length; i++) {
        var e = events[i];
        if (state.step == 0 && e.name == "purchase") state.step = 1;
        else if (state.step == 1 && e.name == "view") state.step = 2;
      }
      return state;
    })
    .groupBy([function (row) { return row.value.step; }], mixpanel.reducer.count());
}

// An event is {name, distinct_id, time (ms, project time), sampling_factor, properties}.
function main() {
  return Events({from_date: "2024-01-01", to_date: "2024-01-03", event_selectors: [{event: "signup"}]})
    .filter(e => e.distinct_id == "u2")
    .map(e => ({name: e.name, distinct_id: e.distinct_id, time: e.time, sampling_factor: e.sampling_factor, source: e.properties.source}));
}

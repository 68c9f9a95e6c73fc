function main() { return Events({from_date: "1000-01-01", to_date: "2024-01-03"}); }

function main() { throw new Error("custom failure"); }

//go:build race

package web

// raceEnabled reports a -race build, where the browser test's training would
// be too slow and the load test runs fewer requests.
const raceEnabled = true

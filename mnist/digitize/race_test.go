//go:build race

package digitize

// Under the race detector (make race), which is ten times slower and finds
// nothing in this package (it starts no goroutines), the round trips on
// real MNIST digits run on fewer digits; `go test` runs them all.
func init() { raceDetector = true }

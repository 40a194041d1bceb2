//go:build race

package main

// raceEnabled reports a -race build, where an epoch of the cnn on the real
// MNIST would take many minutes.
const raceEnabled = true

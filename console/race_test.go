//go:build race

package console

// raceDetector says the tests run under -race, where the server runs several times slower:
// timing goals are checked in the plain run only.
const raceDetector = true

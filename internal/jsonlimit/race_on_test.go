//go:build race

package jsonlimit

// raceSlowdown scales the time bounds: the race detector makes the byte loop ~10x slower.
const raceSlowdown = 10

//go:build !race

package jsonlimit

const raceSlowdown = 1

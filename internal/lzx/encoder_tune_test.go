package lzx

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestTune(t *testing.T) {
	spec := os.Getenv("TUNE")
	if spec == "" {
		t.Skip()
	}
	data := encRealistic(t, 1, 32<<20)
	for _, s := range strings.Split(spec, ";") {
		f := strings.Split(s, ",")
		v := make([]int, len(f))
		for i := range f {
			v[i], _ = strconv.Atoi(f[i])
		}
		e, _ := NewEncoder(EncoderOptions{WindowBits: v[0], E8FileSize: 12000000})
		e.m.init(v[0], encTuning{maxChain: v[1], goodLen: v[2], niceLen: v[3], lazyLen: v[4], nearDist: v[5], farChain: v[6], hashBits: v[7]})
		e.Reset()
		c0 := cpuTime()
		n := 0
		for off := 0; off < len(data); off += frameSize {
			out, _ := e.EncodeFrame(data[off:min(off+frameSize, len(data))])
			n += len(out)
		}
		c := cpuTime() - c0
		t.Logf("%v: %.1f MB/cpu-s ratio %.3f", v, float64(len(data))/1e6/c.Seconds(), float64(len(data))/float64(n))
	}
}
